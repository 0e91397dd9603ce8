"""mdso-ocr sidecar: one Python process per OCR service, serving HTTP on a private Unix socket."""
