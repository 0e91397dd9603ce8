"""npm run eval: accuracy of the OCR services on realistic French quotes (mdso_tools/eval_inputs.py),
per input category, against the plain tesseract CLI as the reference row.

Run by scripts/eval in the bench venv, as `PYTHONPATH=tools .venv-bench/bin/python -m mdso_tools.eval`.

Every document goes through the real service: the gateway (node dist/gateway/src/main.js) with the
tesseract sidecar behind it, POST /ocr/<service>?pages=true&<variant query>. The reference row runs
`tesseract <image> - -l fra+eng` at default settings on each page (PDF pages rasterised by
`pdftoppm -r 300`; images and TIFFs given as they are), one page at a time, OMP_THREAD_LIMIT=1 (same
result, no thread oversubscription). The gateway runs every service the variants name (e.g.
`rapidocr=` adds the rapidocr service). Variants run interleaved (A B C, then B C A, ...) so outside
load hits them alike.

Scores, per category (sums over its pages, so long pages weigh more):
- CER: Levenshtein distance / reference length, on texts with whitespace runs collapsed;
- WER: the same over whitespace-separated words;
- numeric-token recall: share of the reference's tokens containing a digit (SIRET groups, amounts,
  rates, dates, postal codes, page numbers; ASCII digits, so "m²" is not one) that appear exactly in
  the output (multiset match; surrounding punctuation, € and % stripped on both sides, so "685,00€"
  matches "685,00 €" but "1150,00" does not match "1 150,00");
- identifiers (a second table): the reference's SIREN, SIRET, VAT numbers and IBANs (their check
  digits hold: eval_inputs computes them) against those mdso_sidecar.identifiers finds in each output
  page: read exactly, misread and flagged by the check, misread yet passing it, recovered by the one
  candidate offered, false corrections (scoring.identifier_counts says how they are paired).

Real photos (`--photos DIR` or EVAL_PHOTOS=DIR; category `real-photo`): camera photos of printed
pages with their ground truth, read where they lie and never copied into the project (their licences
are in DIR/SOURCES.md). DIR holds manifest.tsv (columns `name`, `lang`, `kind`, ...) and NAME.jpg +
NAME.txt per photo. They are scored per source group: the manifest's `lang` for typewritten pages
(cs, sk, da, and together "typewritten"), `receipts` for the `kind` "receipt ..." rows, whose ground
truth (WildReceipt) lost the spaces inside each box: receipts are scored on texts with all whitespace
removed on both sides, CER only (WER and numeric tokens need the spaces). Beside the summed CER the
group table gives the mean of the per-photo CERs (a short photo weighs as much as a long one) and
out/GT, the output's length over the ground truth's (well under 1: whole paragraphs lost); a second
table lists every photo.

Language: a variant's query may hold `{lang}`, replaced for each input by its tesseract language
(URL-encoded): the manifest's `lang` mapped to tesseract's name (cs→ces, sk→slk, da→dan, en→eng,
de→deu) for a real photo, fra+eng for the generated French quotes. So `tesseract lang=lang={lang}`
OCRs each photo in its own language and `tesseract=` keeps the service default (fra+eng, what a
client that sends no `lang` gets). The language is a query template rather than a separate switch
so that the service row and the CLI row spell it alike: `cli lang=lang={lang}` runs the reference
with `-l <the photo's language>` (the CLI row takes `lang=` only; bare `cli` is `-l fra+eng`).

Environment: EVAL_DOCS (documents per category, default 2), EVAL_CATEGORIES (comma list; default
every generated category, plus real-photo when a photo folder is given; `real-photo` alone runs only
the photos), EVAL_VARIANTS (';'-separated `label=query` for services, `cli[ label][=lang=...]` for the
reference; default `cli;tesseract ocr=mode=ocr;tesseract auto=mode=auto`; a label's first word is
the service), EVAL_ENV (extra gateway environment, `A=1,B=2`), EVAL_PHOTOS (the photo folder),
EVAL_OUT (output folder, default run/eval: inputs/, texts/, report.md, results.json).
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, quote

from mdso_tools import ROOT, eval_inputs
from mdso_tools.gateway import Gateway, multipart, post_ocr
from mdso_tools.scoring import IDENTIFIER_COUNTS, identifier_counts, score

REAL_PHOTO = "real-photo"
OUT = ROOT / os.environ.get("EVAL_OUT", "run/eval")
DOCS = int(os.environ.get("EVAL_DOCS", "2"))
VARIANTS = [v for v in os.environ.get(
    "EVAL_VARIANTS", "cli;tesseract ocr=mode=ocr;tesseract auto=mode=auto").split(";") if v]
EXTRA_ENV = dict(kv.split("=", 1) for kv in os.environ.get("EVAL_ENV", "").split(",") if kv)
LANG = "fra+eng"
TESSDATA = "/usr/share/tesseract-ocr/5/tessdata"
MIME = {".pdf": "application/pdf", ".jpg": "image/jpeg", ".tif": "image/tiff", ".png": "image/png"}
# The photo manifest's `lang` (ISO 639-1) as tesseract names its language data.
TESSERACT_LANG = {"cs": "ces", "sk": "slk", "da": "dan", "en": "eng", "de": "deu"}
TYPEWRITTEN = ("cs", "sk", "da")

report: list[str] = []


def say(line: str = "") -> None:
    print(line, flush=True)
    report.append(line)


# -- inputs ------------------------------------------------------------------------------------------


@dataclass
class RealPhoto(eval_inputs.Sample):
    """A camera photo from the --photos folder: its source group (cs, sk, da, receipts), tesseract
    language, and whether its ground truth lost its spaces."""

    group: str = ""
    lang: str = LANG
    spaceless: bool = False


def load_photos(folder: Path) -> list[RealPhoto]:
    """The photos listed in folder/manifest.tsv, read where they lie: they are not the project's to
    copy (folder/SOURCES.md holds their licences)."""
    manifest = folder / "manifest.tsv"
    if not manifest.is_file():
        raise SystemExit(f"{folder}: no manifest.tsv; --photos / EVAL_PHOTOS names the folder holding "
                         "manifest.tsv and NAME.jpg + NAME.txt per photo")
    with manifest.open(encoding="utf-8", newline="") as f:
        rows = csv.DictReader(f, delimiter="\t", quoting=csv.QUOTE_NONE)
        return [photo_sample(folder, row) for row in rows]


def photo_sample(folder: Path, row: dict[str, str]) -> RealPhoto:
    """One manifest row. Receipts are a group of their own, scored without spaces (see score)."""
    if row["lang"] not in TESSERACT_LANG:
        raise SystemExit(f"{folder}/manifest.tsv: {row['name']} has lang {row['lang']!r}; "
                         f"mdso_tools.eval knows {', '.join(TESSERACT_LANG)} (add it to TESSERACT_LANG)")
    receipt = row["kind"].startswith("receipt")
    path = folder / f"{row['name']}.jpg"
    text = (folder / f"{row['name']}.txt").read_text(encoding="utf-8")
    return RealPhoto(REAL_PHOTO, path.name, path, [text], {"kind": row["kind"]},
                     group="receipts" if receipt else row["lang"], lang=TESSERACT_LANG[row["lang"]],
                     spaceless=receipt)


def sample_lang(sample: eval_inputs.Sample) -> str:
    return sample.lang if isinstance(sample, RealPhoto) else LANG


def with_lang(query: str, sample: eval_inputs.Sample) -> str:
    """The variant's query for this input: `{lang}` becomes the input's tesseract language."""
    return query.replace("{lang}", quote(sample_lang(sample), safe=""))


def missing_languages(variants: list[str], samples: list[eval_inputs.Sample]) -> list[str]:
    """Languages a `{lang}` variant will ask for that tesseract has no data for: found before the run,
    not as a 400 half-way through it."""
    if not any("{lang}" in v for v in variants):
        return []
    listed = subprocess.run(["tesseract", "--list-langs"], capture_output=True, text=True, check=False,
                            env={**os.environ, "TESSDATA_PREFIX": TESSDATA}).stdout.split()
    wanted = {lang for s in samples for lang in sample_lang(s).split("+")}
    return sorted(wanted - set(listed))


# -- readers -----------------------------------------------------------------------------------------


def page_images(sample: eval_inputs.Sample, work: Path) -> list[Path]:
    """The reference rows' page images: PDF pages rasterised at 300 dpi, image files as they are."""
    if sample.path.suffix != ".pdf":
        return [sample.path]
    pages_dir = work / "pages"
    shutil.rmtree(pages_dir, ignore_errors=True)
    pages_dir.mkdir()
    subprocess.run(["pdftoppm", "-r", "300", "-png", str(sample.path), str(pages_dir / "p")], check=True)
    return sorted(pages_dir.glob("p-*.png"))


def cli_lang(query: str) -> str:
    """The reference row's `-l`: its query's `lang=` (fra+eng without one); it takes nothing else."""
    options = parse_qs(query)
    if set(options) - {"lang"}:
        raise SystemExit(f"cli variant: only lang= is understood, not {query!r}")
    return options.get("lang", [LANG])[0]


def read_cli(sample: eval_inputs.Sample, work: Path, lang: str) -> tuple[list[str], dict[str, Any]]:
    env = {**os.environ, "TESSDATA_PREFIX": TESSDATA, "OMP_THREAD_LIMIT": "1"}
    texts = []
    for image in page_images(sample, work):
        out = subprocess.run(["tesseract", str(image), "-", "-l", lang], check=True, capture_output=True,
                             text=True, env=env).stdout
        texts += out.split("\f")  # a multi-page TIFF: one form feed per page
    return [t for t in texts if t.strip()] or [""], {}


def read_service(gw: Gateway, service: str, query: str,
                 sample: eval_inputs.Sample) -> tuple[list[str], dict[str, Any]]:
    body, boundary = multipart(sample.path, MIME[sample.path.suffix])
    conn = gw.connection()
    try:
        data = post_ocr(conn, service, body, boundary, f"pages=true{'&' + query if query else ''}")
    except RuntimeError as e:
        raise RuntimeError(f"{e} (on {sample.name})") from e
    finally:
        conn.close()
    pages = data["pages"]
    return [str(p["text"]) for p in pages], {
        "sources": [p["source"] for p in pages], "rotations": [p["rotation"] for p in pages],
    }


def reader_of(variant: str) -> str:
    """A variant's service (or `cli`): its label's first word."""
    return variant.partition("=")[0].split()[0]


def read(gw: Gateway | None, variant: str, sample: eval_inputs.Sample,
         work: Path) -> tuple[list[str], dict[str, Any]]:
    """One variant's pages of one input: the CLI reference or a service through the gateway."""
    query = with_lang(variant.partition("=")[2], sample)
    if reader_of(variant) == "cli":
        return read_cli(sample, work, cli_lang(query))
    if gw is None:  # main starts one whenever a variant names a service
        raise RuntimeError(f"{variant}: no gateway started")
    return read_service(gw, reader_of(variant), query, sample)


# -- run ---------------------------------------------------------------------------------------------


def arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--photos", type=Path, metavar="DIR", default=os.environ.get("EVAL_PHOTOS") or None,
                        help="folder of real photos (manifest.tsv, NAME.jpg, NAME.txt); default EVAL_PHOTOS")
    parser.add_argument("--rescore", type=Path, metavar="FOLDER",
                        help="recompute the tables from a run's saved texts (e.g. run/eval)")
    return parser.parse_args()


def categories(photos: Path | None) -> list[str]:
    default = [*eval_inputs.CATEGORIES, *([REAL_PHOTO] if photos else [])]
    chosen = [c for c in os.environ.get("EVAL_CATEGORIES", ",".join(default)).split(",") if c]
    if REAL_PHOTO in chosen and photos is None:
        raise SystemExit(f"category {REAL_PHOTO} needs the photo folder: --photos DIR or EVAL_PHOTOS=DIR")
    return chosen


def build_samples(chosen: list[str], photos: Path | None) -> list[eval_inputs.Sample]:
    """The inputs of the chosen categories; the generated corpus is only built when one of its
    categories is chosen (it takes a while)."""
    samples: list[eval_inputs.Sample] = []
    if set(chosen) & set(eval_inputs.CATEGORIES):
        wanted = tuple(c for c in eval_inputs.CATEGORIES if c in chosen)
        samples += eval_inputs.build(OUT / "inputs", DOCS, categories=wanted)
    if REAL_PHOTO in chosen and photos is not None:
        samples += load_photos(photos)
    return samples


def photo_fields(sample: eval_inputs.Sample) -> dict[str, Any]:
    """What a result row keeps of a real photo, so that --rescore scores it the same way."""
    if not isinstance(sample, RealPhoto):
        return {}
    return {"group": sample.group, "lang": sample.lang, "spaceless": sample.spaceless}


def main(photos: Path | None) -> None:
    chosen = categories(photos)
    OUT.mkdir(parents=True, exist_ok=True)
    started = time.time()
    cli_version = subprocess.run(["tesseract", "--version"], capture_output=True, text=True,
                                 check=False).stdout.splitlines()[0]
    say(f"# mdso-ocr eval — {time.strftime('%Y-%m-%d %H:%M')} — {os.cpu_count()} CPUs, "
        f"load avg {os.getloadavg()[0]:.2f}")
    say(f"reference: `tesseract <page> - -l {LANG}` ({cli_version}, default settings; a cli variant's "
        "lang= replaces fra+eng); services through the gateway")
    samples = build_samples(chosen, photos)
    missing = missing_languages(VARIANTS, samples)
    if missing:
        raise SystemExit(f"tesseract has no data for {', '.join(missing)}: apt-get install "
                         + " ".join(f"tesseract-ocr-{lang}" for lang in missing))
    say(f"{len(samples)} inputs, {sum(len(s.pages) for s in samples)} pages, {DOCS} documents per "
        f"generated category; variants: {', '.join(VARIANTS)}"
        + (f"; gateway env {EXTRA_ENV}" if EXTRA_ENV else ""))
    work = Path(tempfile.mkdtemp(prefix="mdso-eval-"))
    services = list(dict.fromkeys(reader_of(v) for v in VARIANTS if reader_of(v) != "cli"))
    gw = (Gateway(1, {"ENABLED_SERVICES": ",".join(services), "TIMEOUT": "600", **EXTRA_ENV})
          if services else None)
    results: list[dict[str, Any]] = []
    (OUT / "texts").mkdir(exist_ok=True)
    try:
        for i, sample in enumerate(samples):
            order = VARIANTS[i % len(VARIANTS):] + VARIANTS[: i % len(VARIANTS)]
            for variant in order:
                label = variant.partition("=")[0]
                t0 = time.perf_counter()
                texts, info = read(gw, variant, sample, work)
                seconds = time.perf_counter() - t0
                extra = photo_fields(sample)
                row = {"variant": label, "category": sample.category, "sample": sample.name,
                       "pages": len(sample.pages), "seconds": seconds, **info, **extra,
                       **score(sample.text, "\n".join(texts), extra.get("spaceless", False)),
                       **identifier_counts(sample.text, texts)}
                results.append(row)
                text_path = OUT / "texts" / f"{sample.name}.{label.replace(' ', '_')}.txt"
                text_path.write_text("\n\f\n".join(texts))
                print(f"  {sample.name:40s} {label:16s} {seconds:6.1f} s  "
                      f"CER {row['char_edits'] / max(1, row['chars']):.2%}  "
                      f"num {row['nums_found']}/{row['nums']}", flush=True)
    finally:
        if gw is not None:
            gw.stop()
        shutil.rmtree(work, ignore_errors=True)
    for sample in samples:
        (OUT / "texts" / f"{sample.name}.reference.txt").write_text(sample.text)

    tables(results, [v.partition("=")[0] for v in VARIANTS])
    say("")
    say(f"eval took {time.time() - started:.0f} s; load avg at the end {os.getloadavg()[0]:.2f}")
    (OUT / "report.md").write_text("\n".join(report) + "\n")
    (OUT / "results.json").write_text(json.dumps(results, indent=1))


def rescore(folder: Path) -> None:
    """`--rescore run/eval`: the tables again from a run's saved texts (after a metric change)."""
    results = json.loads((folder / "results.json").read_text())
    for row in results:
        texts = folder / "texts"
        reference = (texts / f"{row['sample']}.reference.txt").read_text()
        output = (texts / f"{row['sample']}.{row['variant'].replace(' ', '_')}.txt").read_text()
        row.update(score(reference, output.replace("\n\f\n", "\n"), row.get("spaceless", False)))
        row.update(identifier_counts(reference, output.split("\n\f\n")))
    tables(results, list(dict.fromkeys(row["variant"] for row in results)))


# -- tables ------------------------------------------------------------------------------------------

_SUMS = ("chars", "out_chars", "char_edits", "words", "word_edits", "nums", "nums_found", "pages", "seconds")


def reader_name(label: str) -> str:
    if label == "cli":
        return "tesseract CLI (reference)"
    return "tesseract CLI" + label[3:] if label.startswith("cli ") else label


def totals(rows: list[dict[str, Any]]) -> dict[str, float]:
    return {k: sum(r.get(k, 0) for r in rows) for k in _SUMS}


def tables(results: list[dict[str, Any]], labels: list[str]) -> None:
    generated = [r for r in results if r["category"] != REAL_PHOTO]
    photos = [r for r in results if r["category"] == REAL_PHOTO]
    if generated:
        table(generated, labels)
        identifier_table(generated, labels)
    if photos:
        photo_groups_table(photos, labels)
        photo_table(photos, labels)


def table(results: list[dict[str, Any]], labels: list[str]) -> None:
    say("")
    say("| category | reader | CER | WER | numeric-token recall | s/page |")
    say("|---|---|---|---|---|---|")
    categories = list(dict.fromkeys(row["category"] for row in results))
    for category in [*categories, "all"]:
        for label in labels:
            rows = [r for r in results if r["variant"] == label and category in ("all", r["category"])]
            if not rows:
                continue
            total = totals(rows)
            say(f"| {category} | {reader_name(label)} | "
                f"{total['char_edits'] / total['chars']:.2%} | {total['word_edits'] / total['words']:.2%} | "
                f"{total['nums_found'] / max(1, total['nums']):.3f} | "
                f"{total['seconds'] / total['pages']:.2f} |")


def identifier_table(results: list[dict[str, Any]], labels: list[str]) -> None:
    """SIREN, SIRET, TVA and IBAN per category: read exactly, flagged by their check, recovered by a
    candidate (mdso_sidecar.identifiers on each output text; scoring.identifier_counts)."""
    say("")
    say("Identifiers (SIREN, SIRET, TVA, IBAN; check digits of the corpus hold). exact: read as printed; "
        "flagged: misread and failing its check; passed wrong: misread yet passing; recovered: misread "
        "and its one candidate is the truth; ambiguous: several candidates, the truth among them; "
        "false corr.: a candidate that is wrong or offered on an exact reading; spurious: found in the "
        "output, not in the reference.")
    say("")
    say("| category | reader | ids | exact | misread | missed | flagged | passed wrong | recovered "
        "| ambiguous | false corr. | spurious |")
    say("|---|---|---|---|---|---|---|---|---|---|---|---|")
    categories = list(dict.fromkeys(row["category"] for row in results))
    for category in [*categories, "all"]:
        for label in labels:
            rows = [r for r in results if r["variant"] == label and category in ("all", r["category"])]
            if not rows or not all("id_truth" in r for r in rows):
                continue
            n = {k.removeprefix("id_"): sum(r[k] for r in rows) for k in IDENTIFIER_COUNTS}
            say(f"| {category} | {reader_name(label)} | {n['truth']} | {_share(n['exact'], n['truth'])} | "
                f"{n['misread']} | {n['missed']} | {_share(n['flagged'], n['misread'])} | "
                f"{n['passed_wrong']} | {_share(n['recovered'], n['misread'])} | "
                f"{n['ambiguous_with_truth']} | {n['false_corrections']} | {n['spurious']} |")


def _share(count: int, whole: int) -> str:
    return f"{count} ({count / whole:.0%})" if whole else str(count)


def photo_groups(results: list[dict[str, Any]]) -> list[tuple[str, tuple[str, ...]]]:
    """The real-photo groups present, in table order: each language, the typewritten pages together,
    then the receipts."""
    present = {r["group"] for r in results}
    groups: list[tuple[str, tuple[str, ...]]] = [(g, (g,)) for g in TYPEWRITTEN if g in present]
    if len(groups) > 1:
        groups.append(("typewritten (" + "+".join(g for g, _ in groups) + ")", tuple(g for g, _ in groups)))
    groups += [(g, (g,)) for g in sorted(present - set(TYPEWRITTEN))]
    return groups


def photo_groups_table(results: list[dict[str, Any]], labels: list[str]) -> None:
    say("")
    say("Real photos, per group. CER: summed edits / summed ground-truth characters; mean CER: the "
        "photos' CERs averaged; out/GT: output length / ground-truth length. Receipts: whitespace "
        "removed on both sides, CER only.")
    say("")
    say("| group | reader | photos | CER | mean CER | WER | numeric-token recall | out/GT | s/page |")
    say("|---|---|---|---|---|---|---|---|---|")
    for name, members in photo_groups(results):
        for label in labels:
            rows = [r for r in results if r["variant"] == label and r["group"] in members]
            if not rows:
                continue
            total = totals(rows)
            mean_cer = sum(r["char_edits"] / max(1, r["chars"]) for r in rows) / len(rows)
            wer = f"{total['word_edits'] / total['words']:.2%}" if total["words"] else "—"
            nums = f"{total['nums_found'] / total['nums']:.3f}" if total["nums"] else "—"
            say(f"| {name} | {reader_name(label)} | {len(rows)} | "
                f"{total['char_edits'] / total['chars']:.2%} | {mean_cer:.3f} | {wer} | {nums} | "
                f"{total['out_chars'] / total['chars']:.2f} | "
                f"{total['seconds'] / total['pages']:.2f} |")


def photo_table(results: list[dict[str, Any]], labels: list[str]) -> None:
    """Every photo, every reader: CER and out/GT, where a paragraph or a page half lost shows."""
    say("")
    say("Real photos, per photo: CER (out/GT).")
    say("")
    present = [label for label in labels if any(r["variant"] == label for r in results)]
    say("| photo | group | GT chars | " + " | ".join(reader_name(label) for label in present) + " |")
    say("|---|---|---|" + "---|" * len(present))
    by_key = {(r["sample"], r["variant"]): r for r in results}
    order = {name: i for i, (name, _) in enumerate(photo_groups(results))}
    for sample in sorted(dict.fromkeys(r["sample"] for r in results),
                         key=lambda s: (order.get(by_key[s, present[0]]["group"], 99), s)):
        first = by_key[sample, present[0]]
        cells = [photo_cell(by_key.get((sample, label))) for label in present]
        say(f"| {sample.removesuffix('.jpg')} | {first['group']} | {first['chars']} | "
            + " | ".join(cells) + " |")


def photo_cell(row: dict[str, Any] | None) -> str:
    if row is None:
        return ""
    chars = max(1, row["chars"])
    return f"{row['char_edits'] / chars:.1%} ({row['out_chars'] / chars:.2f})"


if __name__ == "__main__":
    args = arguments()
    if args.rescore:
        rescore(args.rescore)
    else:
        main(args.photos)
