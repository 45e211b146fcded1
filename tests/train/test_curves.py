"""train.curves: several training histories in one picture; bad input is one clear error."""
import json

import cv2
import pytest

from train.curves import load_history, main


def _history(path, final):
    hist = [{"minutes": m, "step": 100 * m, "pck10": final * m / 90, "pck05": final * m / 120} for m in (0, 30, 60, 90)]
    path.write_text(json.dumps(hist))
    return path


def test_draws_every_run_and_logs_the_last_figures(tmp_path, caplog):
    a, b = _history(tmp_path / "a.json", 0.89), _history(tmp_path / "b.json", 0.91)
    out = tmp_path / "curves.png"
    with caplog.at_level("INFO"):
        main([str(a), str(b), "--label", "plain", "--label", "light", "-o", str(out), "--pck05"])
    img = cv2.imread(str(out))
    assert img is not None and img.shape[0] > 200 and img.shape[1] > 300
    assert "plain: 90.0 min, step 9000, PCK@0.1 0.890" in caplog.text
    assert "light: 90.0 min, step 9000, PCK@0.1 0.910" in caplog.text


def test_a_run_with_a_weight_average_draws_and_logs_it(tmp_path, caplog):
    h = _history(tmp_path / "a.json", 0.88)
    hist = json.loads(h.read_text())
    for e in hist:
        e["ema_pck10"] = e["pck10"] + 0.02
    h.write_text(json.dumps(hist))
    plain = _history(tmp_path / "b.json", 0.88)
    with caplog.at_level("INFO"):
        main([str(h), "--label", "ema", "-o", str(tmp_path / "with.png")])
        main([str(plain), "--label", "plain", "-o", str(tmp_path / "without.png")])
    assert "ema: 90.0 min, step 9000, PCK@0.1 0.880, PCK@0.05 0.660; weight average PCK@0.1 0.900" in caplog.text
    assert "plain: 90.0 min, step 9000, PCK@0.1 0.880, PCK@0.05 0.660\n" in caplog.text + "\n"
    a, b = cv2.imread(str(tmp_path / "with.png")), cv2.imread(str(tmp_path / "without.png"))
    assert a.shape == b.shape and (a != b).any()   # the average's line (and its legend row) drawn


@pytest.mark.parametrize("content, message", [
    (None, "does not exist"),
    ("{not json", "is not JSON"),
    ("[]", "is not a training history"),
    ('{"minutes": 1, "pck10": 0.5}', "is not a training history"),
    ('[{"minutes": 1}]', "is not a training history"),
])
def test_bad_history_names_the_file(tmp_path, content, message, capsys):
    path = tmp_path / "h.json"
    if content is not None:
        path.write_text(content)
    with pytest.raises((FileNotFoundError, ValueError), match=message):
        load_history(path)
    with pytest.raises(SystemExit) as e:
        main([str(path), "-o", str(tmp_path / "c.png")])
    assert e.value.code == 2
    err = capsys.readouterr().err
    assert str(path) in err and message in err
    assert not (tmp_path / "c.png").exists()


@pytest.mark.parametrize("extra, message", [
    (["--label", "x", "--label", "y"], "--label given 2 times for 1 histories"),
    (["-o", "{tmp}/c.txt"], "expected a .png or .jpg"),
    (["-o", "{tmp}/nowhere/c.png"], "does not exist"),
])
def test_bad_options_are_one_error(tmp_path, extra, message, capsys):
    h = _history(tmp_path / "a.json", 0.9)
    argv = [str(h)] + [e.format(tmp=tmp_path) for e in extra]
    if "-o" not in argv:
        argv += ["-o", str(tmp_path / "c.png")]
    with pytest.raises(SystemExit) as e:
        main(argv)
    assert e.value.code == 2 and message in capsys.readouterr().err
