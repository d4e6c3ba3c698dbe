"""Single sign-on at the edge: the HTTP side of OpenID Connect (discovery, the code exchange,
the provider's keys and the ID token's signature)."""
