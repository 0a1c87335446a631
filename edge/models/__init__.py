"""Network definitions shared by the runtime and by ``training/``."""
