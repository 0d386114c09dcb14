"""Shared core of RealTone: settings, domain models, adapters and migrations.

Shipped to the API function as a Lambda layer and copied into the scorer image.
"""
