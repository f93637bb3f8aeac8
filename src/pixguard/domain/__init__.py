"""Pix itself: the message schema, the transaction contract, CPF/CNPJ and key checks, the rules."""
