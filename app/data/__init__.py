"""Data access: the engine's set-up, write transactions, database outages, pages and the catalogue's cache.

Below the services, above the models: nothing here knows a rule of the machine.
"""
