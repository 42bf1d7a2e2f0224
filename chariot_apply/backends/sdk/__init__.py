"""The official SDK as a backend: ``backend`` (the calls, in a thread pool), ``surface`` (the documented names
and the modules that document them), ``errors`` (what the SDK raises, as ours), ``shapes`` (what it returns, read
by documented field names)."""

from chariot_apply.backends.sdk.backend import LIMITATIONS, SdkBackend
from chariot_apply.backends.sdk.surface import INSTALL_HINT, SDK_MODULE, SdkMissingError

__all__ = ["INSTALL_HINT", "LIMITATIONS", "SDK_MODULE", "SdkBackend", "SdkMissingError"]
