"""SecretBox: where the key comes from, how it is kept, and what a sealed value survives."""

from __future__ import annotations

import base64
import pickle
import threading

import pytest

from engine.accounts import DecryptionFailed, SecretKeyError
from engine.accounts.secrets import ENV_VAR, KEY_FILE_NAME, SecretBox


def test_key_file_is_created_private_on_first_use_and_reused(tmp_path):
    data_dir = tmp_path / "data"
    first = SecretBox.load(data_dir, environ={})
    key_file = data_dir / KEY_FILE_NAME
    assert key_file.stat().st_mode & 0o777 == 0o600
    assert len(base64.b64decode(key_file.read_text())) == 32
    # Loading again opens what the first box sealed: same key, not a new one.
    sealed = first.seal(b"sk-123", b"where")
    second = SecretBox.load(data_dir, environ={})
    assert second.key_id == first.key_id
    assert second.open(sealed, b"where") == b"sk-123"
    assert [p.name for p in data_dir.iterdir()] == [KEY_FILE_NAME]


def test_racing_creators_end_up_with_one_key(tmp_path):
    boxes: list[SecretBox] = []

    def load() -> None:
        boxes.append(SecretBox.from_key_file(tmp_path / KEY_FILE_NAME))

    threads = [threading.Thread(target=load) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len({b.key_id for b in boxes}) == 1


def test_environment_key_wins_over_the_key_file(tmp_path):
    key = SecretBox.generate_key()
    from_file = SecretBox.load(tmp_path, environ={})
    for text in (base64.b64encode(key).decode(), base64.urlsafe_b64encode(key).decode()):
        from_env = SecretBox.load(tmp_path, environ={ENV_VAR: text + "\n"})
        assert from_env.key_id == SecretBox(key).key_id != from_file.key_id


@pytest.mark.parametrize(
    ("text", "needle"),
    [("not base64!!", "not valid base64"), (base64.b64encode(b"short").decode(), "5 bytes")],
)
def test_a_malformed_environment_key_is_refused_without_echoing_it(text, needle):
    with pytest.raises(SecretKeyError) as refused:
        SecretBox.from_env({ENV_VAR: text})
    assert needle in str(refused.value)
    assert ENV_VAR in str(refused.value)
    assert text not in str(refused.value)
    assert refused.value.code == "secret_key_error"


def test_a_key_file_others_can_read_is_refused(tmp_path):
    path = tmp_path / KEY_FILE_NAME
    SecretBox.from_key_file(path)
    path.chmod(0o644)
    with pytest.raises(SecretKeyError, match="chmod 600"):
        SecretBox.from_key_file(path)


def test_a_missing_key_file_is_an_error_when_creation_is_off(tmp_path):
    with pytest.raises(SecretKeyError, match="does not exist"):
        SecretBox.from_key_file(tmp_path / KEY_FILE_NAME, create=False)


def test_the_key_never_shows_in_repr_or_pickles():
    key = SecretBox.generate_key()
    box = SecretBox(key)
    shown = repr(box)
    assert key.hex() not in shown and base64.b64encode(key).decode() not in shown
    assert shown == f"SecretBox(key_id={box.key_id})"
    with pytest.raises(TypeError):
        pickle.dumps(box)


def test_sealed_values_are_bound_to_key_and_associated_data():
    box = SecretBox(SecretBox.generate_key())
    sealed = box.seal(b"sk-123", b"book:1/llm.api_key")
    assert b"sk-123" not in sealed
    assert box.seal(b"sk-123", b"x") != box.seal(b"sk-123", b"x")  # fresh nonce each time
    assert box.open(sealed, b"book:1/llm.api_key") == b"sk-123"
    with pytest.raises(DecryptionFailed, match="altered"):
        box.open(sealed, b"book:2/llm.api_key")
    flipped = sealed[:-1] + bytes([sealed[-1] ^ 1])
    with pytest.raises(DecryptionFailed, match="altered"):
        box.open(flipped, b"book:1/llm.api_key")
    with pytest.raises(DecryptionFailed, match="different secret key"):
        SecretBox(SecretBox.generate_key()).open(sealed, b"book:1/llm.api_key")
    with pytest.raises(DecryptionFailed, match="malformed"):
        box.open(b"\x01abc", b"book:1/llm.api_key")


def test_keys_of_the_wrong_size_are_refused():
    with pytest.raises(SecretKeyError):
        SecretBox(b"\x00" * 16)
