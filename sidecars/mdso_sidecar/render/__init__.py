"""Standard files built from what the engine already read (no second OCR pass): hOCR (hocr.py),
ALTO 4 (alto.py) and the searchable PDF (pdf.py), each a pure function from the pages read
(pages.RenderedPage) to the file.
"""
