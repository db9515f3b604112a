import pytest

from gateway import config
from gateway.errors import ConfigError


def test_errors_name_the_offending_key(tmp_path):
    with pytest.raises(ConfigError, match=r"unknown field `batchsize` - at `\$.stream`"):
        config.from_dict({"stream": {"batchsize": 3}})
    with pytest.raises(ConfigError, match=r"\$.channels\[0\].kind"):
        config.from_dict({"channels": [{"kind": "carrier-pigeon"}]})
    with pytest.raises(ConfigError, match=r"\$.retry.max_attempts"):
        config.from_dict({"retry": {"max_attempts": 0}})
    bad = tmp_path / "bad.toml"
    bad.write_text("[stream\n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        config.load(str(bad), {})


def test_toml_then_environment_overlay(tmp_path):
    f = tmp_path / "g.toml"
    f.write_text('redis_url = "redis://h:1/0"\n[stream]\nbatch_size = 10\n[[channels]]\nkind = "smtp"\nport = 25\n')
    cfg = config.load(str(f), {"GATEWAY_STREAM__BATCH_SIZE": "500", "GATEWAY_CHANNELS__0__CONNECTIONS": "3",
                               "REDIS_URL": "redis://ignored:2/0"})
    assert cfg.redis_url == "redis://h:1/0"  # the file wins over REDIS_URL; GATEWAY_* wins over both
    assert cfg.stream.batch_size == 500
    assert cfg.channels[0].port == 25 and cfg.channels[0].connections == 3
    assert config.load(None, {"REDIS_URL": "redis://r:3/0"}).redis_url == "redis://r:3/0"
    with pytest.raises(ConfigError, match=r"\$.stream.batch_size"):
        config.load(None, {"GATEWAY_STREAM__BATCH_SIZE": "lots"})
