def run() -> int:
    print("hello")
    return 0
