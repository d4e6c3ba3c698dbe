"""What the digest and the confirmation replies say, and the Jinja environment that renders them."""
