"""Running RealTone on one machine: Postgres, Redis, LocalStack, the API and a scorer worker.

``make run`` and the test suite both start the stack through ``DevStack``.
"""
