def answer() -> int:
    return 42


def main() -> int:
    print(answer())
    return 0
