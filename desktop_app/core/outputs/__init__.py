"""Door outputs: what works a lock or tells another system. One interface
(:class:`~desktop_app.core.outputs.base.DoorOutput`), one driver per URI scheme, chosen by
:func:`~desktop_app.core.outputs.registry.open_output`."""
