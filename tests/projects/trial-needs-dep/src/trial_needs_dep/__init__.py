from iniconfig import IniConfig

__all__ = ["IniConfig"]
