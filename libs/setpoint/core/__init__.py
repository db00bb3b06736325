"""The pure core: values and functions with no I/O and no asyncio."""
