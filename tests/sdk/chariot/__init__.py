"""A stand-in for Striveworks' ``chariot-client`` (tests only): ``training_v2``, ``projects``, ``system_resources``
and ``client.connect``, over the emulator."""
