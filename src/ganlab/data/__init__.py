"""Data sets and the code that fetches and verifies their files: one module per data set on
the shared in-memory :class:`~ganlab.data.image_datamodule.ImageDataModule`, found by name
through :mod:`ganlab.data.registry`."""
