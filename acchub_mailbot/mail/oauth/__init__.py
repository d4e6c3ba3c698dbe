"""OAuth 2.0 sign-in for IMAP: settings, tokens, the token endpoint and the device code flow."""
