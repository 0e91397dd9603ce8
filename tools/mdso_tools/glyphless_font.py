"""Writes sidecars/mdso_sidecar/render/glyphless.ttf: the font of the searchable PDF's invisible text
layer (render/pdf.py). One empty glyph, 500 units wide, that every character code is drawn with; the
text itself is carried by the PDF's ToUnicode CMap, so any script survives extraction. Built with
fontTools (in the bench venv):

  PYTHONPATH=tools .venv-bench/bin/python -m mdso_tools.glyphless_font
"""

from __future__ import annotations

from fontTools.fontBuilder import FontBuilder
from fontTools.pens.ttGlyphPen import TTGlyphPen

from mdso_tools import ROOT

OUT = ROOT / "sidecars" / "mdso_sidecar" / "render" / "glyphless.ttf"


def main() -> None:
    builder = FontBuilder(1000, isTTF=True)
    builder.setupGlyphOrder([".notdef", "glyph"])
    builder.setupCharacterMap({0x20: "glyph"})
    empty = TTGlyphPen(None).glyph()
    builder.setupGlyf({".notdef": empty, "glyph": empty})
    builder.setupHorizontalMetrics({".notdef": (500, 0), "glyph": (500, 0)})
    builder.setupHorizontalHeader(ascent=1000, descent=0)
    builder.setupNameTable({"familyName": "GlyphLessFont", "styleName": "Regular"})
    builder.setupOS2(sTypoAscender=1000, sTypoDescender=0, usWinAscent=1000, usWinDescent=0, fsType=0)
    builder.setupPost()
    builder.save(str(OUT))
    print(f"{OUT}: {OUT.stat().st_size} bytes")


if __name__ == "__main__":
    main()
