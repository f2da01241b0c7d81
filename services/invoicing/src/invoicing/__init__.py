"""orderflow invoicing service: renders each paid order's invoice (PDF and JSON) into S3."""
