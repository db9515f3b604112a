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


def test_secret_variables_are_not_read_as_configuration(tmp_path):
    f = tmp_path / "g.toml"
    f.write_text('[[api.access_keys]]\naccess_key_id = "AK"\nsecret_env = "GATEWAY_API_SECRET"\n'
                 '[otp]\n[otp.templates]\n"fr-FR" = "Code ${code}"\n')
    cfg = config.load(str(f), {"GATEWAY_API_SECRET": "s3cret", "GATEWAY_OTP_KEY": "k" * 32})
    assert cfg.api.access_keys[0].secret_env == "GATEWAY_API_SECRET"
    assert cfg.otp is not None and cfg.otp.key_env == "GATEWAY_OTP_KEY" and cfg.otp.templates == {"fr-FR": "Code ${code}"}
    # a secret variable named through the environment overlay itself is skipped too
    cfg = config.load(None, {"GATEWAY_OTP__KEY_ENV": "GATEWAY_MY_OTP", "GATEWAY_MY_OTP": "k" * 32})
    assert cfg.otp is not None and cfg.otp.key_env == "GATEWAY_MY_OTP"
    assert config.load(None, {"GATEWAY_OTP_KEY": "k" * 32}).otp is None  # the default name alone enables nothing
    with pytest.raises(ConfigError, match="unknown field `api_secret`"):  # not named as a secret: still an error
        config.load(None, {"GATEWAY_API_SECRET": "s3cret"})


def test_the_example_config_is_valid():
    from pathlib import Path

    example = Path(__file__).resolve().parents[2] / "gateway.example.toml"
    cfg = config.load(str(example), {})
    assert cfg.channels and isinstance(cfg.channels[0], config.SmtpChannelConfig)
    assert cfg.stream.transactional_inflight == 256 and cfg.api.auth == "sigv4"


def test_host_port():
    assert config.host_port("0.0.0.0:8080") == ("0.0.0.0", 8080)
    assert config.host_port("[::1]:0") == ("::1", 0)
    for bad in ("nope", "host:", "host:99999", "host:x"):
        with pytest.raises(ConfigError, match="expected HOST:PORT"):
            config.host_port(bad)
