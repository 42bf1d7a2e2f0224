"""The ways chariot-apply talks to a Chariot: ``rest`` (our client over our model of the REST API, which the
emulator speaks) and, where the official SDK is installed, ``sdk``. Everything above them talks to the
``Backend`` protocol of ``chariot_apply.chariot.backend``."""
