"""The REST backend: our typed client over our model of Chariot's REST API (``api``), with its own connection pool
(``transport``), credentials (``auth``), settings and retry policy, and an SDK-shaped blocking facade (``sync``)."""
