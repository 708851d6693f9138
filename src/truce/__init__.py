"""truce: the shared revenue system for a company's sales and marketing teams."""

__version__ = "0.1.0"
