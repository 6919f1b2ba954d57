"""Hugging Face TrainingArguments as the run's config: read from the JSON text Trainer's
TensorBoardCallback writes at the start of its event file (never from training_args.bin,
a pickle), for TensorBoard runs and for Trainer output folders read from trainer_state.json.

The fixtures are real: tests/corpus/hf_trainer/generated/tb_args_lr*/ (see PROVENANCE.md).
"""

from __future__ import annotations

import shutil
import struct
from pathlib import Path

from tui_fixtures.support import fixed_app, wait_for, wait_loaded

from metricwatch.hparams import config_of, differing, is_noise
from metricwatch.readers import tfevents
from metricwatch.readers.hf_trainer import _tensorboard_args
from metricwatch.readers.tfevents import parse_event_file
from metricwatch.readers.tfevents_args import args_in_head, search_head
from metricwatch.readers.tfevents_crc import masked_crc32c
from metricwatch.readers.tfevents_proto import MAX_TEXT_BYTES, decode_args
from metricwatch.sources.loader import RunLoader

GENERATED = Path(__file__).parent / "corpus" / "hf_trainer" / "generated"
LR5 = GENERATED / "tb_args_lr5e-3"
LR1 = GENERATED / "tb_args_lr1e-3"
#: The records of the lr1e-3 event file: file_version, args, model_config, then scalars.
ARGS_AT, ARGS_LEN = 88, 3598
NOISE = [
    "hub_always_push",
    "hub_model_id",
    "hub_private_repo",
    "hub_revision",
    "hub_strategy",
    "hub_token",
    "local_rank",
    "output_dir",
    "project",
    "push_to_hub",
    "report_to",
    "resume_from_checkpoint",
    "run_name",
    "trackio_bucket_id",
    "trackio_space_id",
    "trackio_static_space_id",
]


def event_file(run: Path) -> Path:
    (found,) = run.glob("runs/*/events.out.tfevents.*")
    return found


def args_record(run: Path = LR1) -> bytes:
    data = event_file(run).read_bytes()
    return data[ARGS_AT + 12 : ARGS_AT + 12 + ARGS_LEN]


# --- protobuf by hand, for events the frameworks would not write ------------------------------


def varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        out.append(byte | (0x80 if value else 0))
        if not value:
            return bytes(out)


def delimited(number: int, payload: bytes) -> bytes:
    return varint(number << 3 | 2) + varint(len(payload)) + payload


def text_event(tag: str, text: bytes, plugin: bytes = b"text", dtype: int = 7) -> bytes:
    shape = delimited(2, varint(1 << 3) + varint(1))  # one dim of size 1
    tensor = varint(1 << 3) + varint(dtype) + delimited(2, shape) + delimited(8, text)
    metadata = delimited(1, delimited(1, plugin))
    value = delimited(1, tag.encode()) + delimited(8, tensor) + delimited(9, metadata)
    return (
        b"\x09"
        + struct.pack("<d", 1.0)
        + varint(2 << 3)
        + varint(0)
        + delimited(5, delimited(1, value))
    )


def record(data: bytes) -> bytes:
    header = struct.pack("<Q", len(data))
    crc = struct.pack("<I", masked_crc32c(header))
    return header + crc + data + struct.pack("<I", masked_crc32c(data))


# --- the proto: the text of a real event, and text that is not a config -----------------------


def test_the_args_text_of_a_real_trainer_event_decodes_to_its_arguments():
    args = decode_args(args_record())
    assert len(args) == 114
    assert args["learning_rate"] == 0.001
    assert args["max_steps"] == 20
    assert args["warmup_steps"] == 2
    assert args["per_device_train_batch_size"] == 8
    assert args["report_to"] == ["tensorboard"]
    assert args["hub_token"] == "<HUB_TOKEN>"  # Trainer writes tokens redacted
    assert args["accelerator_config"]["even_batches"] is True
    assert args["output_dir"].endswith("tb_args_lr1e-3")
    assert decode_args(args_record(LR5))["learning_rate"] == 0.005


def test_the_model_config_text_and_the_file_version_are_no_arguments():
    data = event_file(LR1).read_bytes()
    file_version = data[12 : 12 + 72]
    model_config = data[3702 + 12 : 3702 + 12 + 665]
    assert b"model_config/text_summary" in model_config
    assert decode_args(file_version) is None
    assert decode_args(model_config) is None


def test_args_under_either_tag_decode_and_other_tags_plugins_and_dtypes_do_not():
    text = b'{"learning_rate": 0.1, "seed": 3}'
    assert decode_args(text_event("args/text_summary", text)) == {"learning_rate": 0.1, "seed": 3}
    assert decode_args(text_event("args", text)) == {"learning_rate": 0.1, "seed": 3}
    assert decode_args(text_event("notes/text_summary", text)) is None
    assert decode_args(text_event("args", text, plugin=b"scalars")) is None
    assert decode_args(text_event("args", text, dtype=1)) is None


def test_text_that_is_not_a_json_object_gives_no_config():
    for text in (b"--lr 0.1 --epochs 3", b"[1, 2]", b'"args"', b"", b"{", b"[" * 100_000):
        assert decode_args(text_event("args/text_summary", text)) is None
    bad_utf8 = decode_args(text_event("args", b'{"name": "\xff"}'))
    assert bad_utf8 == {"name": "\ufffd"}


def test_text_over_the_cap_is_not_decoded_and_text_at_the_cap_is():
    def of_size(size: int) -> bytes:
        return b'{"a": "' + b"x" * (size - 10) + b'"}'

    assert len(of_size(MAX_TEXT_BYTES)) == MAX_TEXT_BYTES - 1
    assert decode_args(text_event("args", of_size(MAX_TEXT_BYTES + 1))) == {
        "a": "x" * (MAX_TEXT_BYTES - 9)
    }
    assert decode_args(text_event("args", of_size(MAX_TEXT_BYTES + 2))) is None
    assert decode_args(text_event("args", of_size(4 * MAX_TEXT_BYTES))) is None


def test_malformed_bytes_never_raise():
    whole = args_record()
    cuts = [whole[:cut] for cut in range(0, len(whole), 7)]
    assert all(decode_args(cut) is None for cut in cuts)
    for junk in (b"\xff" * 20, bytes(range(256)), b"\x2a\xff\xff\xff\xff\xff\xff\xff\xff\xff\x7f"):
        assert decode_args(junk) is None


# --- the head of a file: whole records, checksums, a window that cuts a record ---------------


def test_the_head_of_a_real_file_holds_the_arguments_and_a_cut_one_says_look_again():
    data = event_file(LR1).read_bytes()
    args, final = search_head(data)
    assert (args["learning_rate"], final) == (0.001, True)
    assert search_head(data[:3000]) == (None, False)  # the args record cut short
    assert search_head(data[:ARGS_AT]) == (None, False)  # only the file_version record
    assert search_head(b"") == (None, False)


def test_a_damaged_args_record_is_skipped_and_a_bad_length_ends_the_search():
    data = bytearray(event_file(LR1).read_bytes())
    data[ARGS_AT + 12 + 3000] ^= 0xFF  # a byte of the JSON: the data checksum fails
    assert args_in_head(bytes(data)) is None
    bad_length = bytearray(event_file(LR1).read_bytes())
    bad_length[ARGS_AT] ^= 0x01
    assert search_head(bytes(bad_length)) == (None, True)
    assert args_in_head(b"garbage that is no record at all") is None


# --- the TensorBoard reader ------------------------------------------------------------------


def test_the_tensorboard_reader_takes_the_arguments_as_the_runs_config():
    run = RunLoader().load("lr1e-3", event_file(LR1))
    assert run.problems == []
    assert run.meta["config"]["learning_rate"] == 0.001
    assert run.meta["config"]["max_steps"] == 20
    series = run.table.series["train_loss"]
    assert series.steps.tolist() == [5, 10, 15, 20]
    assert series.values.tolist()[0] == 0.6924259066581726
    single = parse_event_file(event_file(LR5).read_bytes())
    assert single.meta["config"]["learning_rate"] == 0.005


def test_other_writers_files_with_and_without_an_args_text():
    generated = Path(__file__).parent / "corpus" / "tfevents" / "generated"
    loader = RunLoader()
    hf_tags = loader.load("hf_tags", next((generated / "hf_tags").glob("events.out.*")))
    assert hf_tags.meta["config"] == {"lr": 5e-05}  # SummaryWriter.add_text("args", ...)
    writer = next((generated / "pytorch_writer").glob("events.out.*"))
    assert "config" not in loader.load("pytorch_writer", writer).meta  # its text is no args


def test_a_file_being_written_gets_its_config_once_the_args_record_is_whole(tmp_path, monkeypatch):
    calls = []

    def counting(path, *args):
        calls.append(path)
        return real(path, *args)

    real = tfevents.args_in_file
    monkeypatch.setattr(tfevents, "args_in_file", counting)
    data = event_file(LR1).read_bytes()
    target = tmp_path / "run" / event_file(LR1).name
    target.parent.mkdir()
    loader = RunLoader()
    for end in (ARGS_AT, 3000):
        target.write_bytes(data[:end])
        assert "config" not in loader.load("run", target).meta
    target.write_bytes(data)
    assert loader.load("run", target).meta["config"]["learning_rate"] == 0.001
    with target.open("ab") as handle:
        handle.write(record(text_event("args", b'{"learning_rate": 9}')))
    assert loader.load("run", target).meta["config"]["learning_rate"] == 0.001
    assert len(calls) == 2  # the cut file, the whole one; found once, never read again


# --- a Trainer output folder, read from trainer_state.json -----------------------------------


def test_a_trainer_output_folder_takes_its_config_from_the_event_file_under_runs():
    loader = RunLoader()
    training = loader.load("lr1e-3", LR1 / "checkpoint-20" / "trainer_state.json")
    assert training.format == "hf_trainer_state"
    assert training.meta["config"]["learning_rate"] == 0.001
    assert training.meta["total_steps"] == 20
    finished = loader.load("lr5e-3", LR5 / "trainer_state.json")
    assert finished.meta["config"]["learning_rate"] == 0.005
    assert len(finished.meta["config"]) == 114


def test_an_output_folder_without_event_files_has_no_config():
    run = RunLoader().load("tiny", GENERATED / "tiny_bert_run" / "trainer_state.json")
    assert run.problems == []
    assert "config" not in run.meta


def test_the_newest_event_file_under_runs_is_the_config(tmp_path):
    out = tmp_path / "out"
    shutil.copytree(LR5, out)
    newer = out / "runs" / "Dec01_20-48-58_vm"
    newer.mkdir()
    shutil.copy(event_file(LR1), newer)  # run again in the same folder, a later stamp
    assert (
        _tensorboard_args(out / "checkpoint-10" / "trainer_state.json")["config"]["learning_rate"]
        == 0.001
    )


def test_odd_runs_folders_give_no_config_and_never_raise(tmp_path):
    out = tmp_path / "out"
    (out / "runs" / "x").mkdir(parents=True)
    state = out / "trainer_state.json"
    shutil.copy(LR5 / "trainer_state.json", state)
    assert _tensorboard_args(state) == {}  # an empty runs/x
    (out / "runs" / "x" / "events.out.tfevents.1.host").write_bytes(b"\x00" * 100)
    assert _tensorboard_args(state) == {}
    shutil.rmtree(out / "runs")
    (out / "runs").write_text("not a folder")
    assert _tensorboard_args(state) == {}
    assert "config" not in RunLoader().load("out", state).meta


# --- which arguments the runs table compares --------------------------------------------------


def test_noise_keys_are_left_out_and_the_two_runs_differ_only_in_learning_rate():
    loader = RunLoader()
    fast = config_of(loader.load("lr5e-3", LR5 / "trainer_state.json").meta)
    slow = config_of(loader.load("lr1e-3", LR1 / "checkpoint-20" / "trainer_state.json").meta)
    assert [key for key in NOISE if key in fast] == []
    assert len(fast) == 103
    assert (fast["learning_rate"], fast["seed"], fast["data_seed"]) == ("0.005", "0", "")
    assert fast["accelerator_config.even_batches"] == "True"
    assert differing({"lr5e-3": fast, "lr1e-3": slow}) == ["learning_rate"]


def test_the_noise_rule_matches_the_last_part_of_a_key():
    assert all(is_noise(key) for key in NOISE)
    assert is_noise("trainer.output_dir") and is_noise("save_dir") and is_noise("logging_dir")
    assert is_noise("push_to_hub_model_id")
    for kept in ("seed", "data_seed", "learning_rate", "optimizer.lr", "dir_count", "hubble"):
        assert not is_noise(kept)


async def test_the_runs_table_shows_a_learning_rate_column_for_two_trainer_runs(tmp_path):
    from metricwatch.tui.screens.runs_table import RunsTableScreen

    root = tmp_path / "runs"
    for run in (LR5, LR1):
        shutil.copytree(run, root / run.name)
    app = fixed_app(root)
    async with app.run_test(size=(160, 40)) as pilot:
        await wait_loaded(pilot, 2)
        await pilot.press("t")
        await wait_for(pilot, lambda: isinstance(pilot.app.screen, RunsTableScreen))
        screen = pilot.app.screen
        columns = [str(c) for c in screen.table.columns]
        assert columns[-1] == "learning_rate"
        assert "output_dir" not in columns and "run_name" not in columns
        data = screen.data_table
        rows = {str(row[1]): str(row[-1]) for row in map(data.get_row_at, range(data.row_count))}
        assert rows == {"tb_args_lr5e-3": "0.005", "tb_args_lr1e-3": "0.001"}


def test_only_the_head_of_a_file_is_searched(tmp_path):
    from metricwatch.readers.tfevents_args import ARGS_WINDOW, args_in_file

    args = record(text_event("args/text_summary", b'{"learning_rate": 0.02}'))
    filler = record(text_event("image", b"x" * 30_000, plugin=b"images"))  # past FIRST_READ
    near, far = tmp_path / "near", tmp_path / "far"
    near.write_bytes(filler + args)
    far.write_bytes(filler * (ARGS_WINDOW // len(filler) + 1) + args)
    assert args_in_file(near) == ({"learning_rate": 0.02}, True)
    assert args_in_file(far) == (None, True)  # past the window: not looked for
    assert args_in_file(tmp_path / "missing") == (None, True)
    assert args_in_file(tmp_path) == (None, True)  # a folder, not a file
