from importlib.resources import files

WORDS = files(__name__).joinpath("words.txt").read_text(encoding="utf-8").split()
