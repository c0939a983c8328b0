"""Torch module / API dump: DumpConfig + register_hook (FORMATS.md section 6)."""
from .dump_config import DumpConfig
from .dump_hook import DumpHandle, register_hook, remove_hook

__all__ = ["DumpConfig", "DumpHandle", "register_hook", "remove_hook"]
