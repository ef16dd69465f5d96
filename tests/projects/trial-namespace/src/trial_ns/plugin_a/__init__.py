NAME = "plugin_a"
