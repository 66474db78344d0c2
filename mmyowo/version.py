"""Version of the mmyowo package."""
__version__ = '0.1.0'
