"""ro-root builder: packages the read-only-root payload as a Debian binary package."""
