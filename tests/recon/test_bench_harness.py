"""The benchmark harness's markdown section: replaced in place, text around it kept."""

from recon.benchmarks.harness import Comparison, write_results


def test_section_replaced_with_its_heading_and_surrounding_text_kept(tmp_path):
    md = tmp_path / "B.md"
    md.write_text("# Benchmarks\n\nProse before.\n\n<!-- bench:demo -->\nold table\n"
                  "<!-- /bench:demo -->\n\nProse after.\n")
    comp = Comparison("Demo", "a", {"a": [1.0, 1.2, 1.1], "b": [0.5, 0.6, 0.55]})
    write_results("demo", [comp], tmp_path / "r.json", md, heading="My heading (`cmd`)")
    text = md.read_text()
    assert "old table" not in text
    assert "Prose before." in text and "Prose after." in text
    assert "### My heading (`cmd`)" in text and "| b |" in text
    assert text.count("<!-- bench:demo -->") == 1 and text.count("<!-- /bench:demo -->") == 1
    write_results("demo", [comp], tmp_path / "r.json", md)
    assert "### `recon bench demo`" in md.read_text()
