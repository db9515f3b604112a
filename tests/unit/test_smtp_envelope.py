"""MAIL FROM parameters: what the transaction declares, from the data and what the server offered."""

import pytest

from gateway import errors
from gateway.channels.smtp.connection import mail_params


@pytest.mark.parametrize("data,eightbit,smtputf8,params", [
    (b"Subject: x\r\n\r\nascii", True, True, b""),
    (b"Subject: x\r\n\r\nascii", False, False, b""),
    ("Subject: x\r\n\r\nGrüße".encode(), True, False, b" BODY=8BITMIME"),  # RFC 6152 §3: declared
])
def test_body_parameter_follows_the_data(data, eightbit, smtputf8, params):
    assert mail_params("a@x.test", "b@y.test", data, eightbit=eightbit, smtputf8=smtputf8) == params


def test_8bit_data_is_never_sent_to_a_server_without_8bitmime():
    with pytest.raises(errors.ContentRejected, match="8BITMIME"):
        mail_params("a@x.test", "b@y.test", "Grüße".encode(), eightbit=False, smtputf8=False)


def test_a_non_ascii_envelope_needs_smtputf8():
    assert mail_params("zoë@x.test", "b@y.test", b"x", eightbit=True, smtputf8=True) == b" SMTPUTF8"
    assert mail_params("a@x.test", "b@y.test", "Grüße".encode(), eightbit=True, smtputf8=True) == b" BODY=8BITMIME"
    with pytest.raises(errors.ContentRejected, match="SMTPUTF8"):
        mail_params("a@x.test", "zoë@y.test", b"x", eightbit=True, smtputf8=False)
