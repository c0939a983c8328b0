"""torchair graph mode: CompilerConfigs that make torchair dump GE and FX data (FORMATS.md 9.1).

Importing this package needs neither torch nor torchair; the helpers import them when called."""
from .torchair_dump import TorchairUnavailableError, get_fx_dump_config, get_ge_dump_config

__all__ = ["TorchairUnavailableError", "get_fx_dump_config", "get_ge_dump_config"]
