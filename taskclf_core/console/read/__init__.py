"""The read models of the pages, the report and the CLI listings: what Status, Review and
History show, each computed from one snapshot of the registry (``registry.snapshot``)."""
