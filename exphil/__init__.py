"""ExPhil: Melee AI — behavioral cloning from Slippi replays, then self-play PPO."""

from exphil._version import __version__

__all__ = ["__version__"]
