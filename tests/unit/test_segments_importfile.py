"""Import file parsing (sans-I/O): Pinpoint's CSV dotted paths, repeated columns, user-id files, NDJSON."""

from __future__ import annotations

from gateway.segments.importfile import parse_csv, parse_json_lines, stable_id


def test_csv_paths_repeats_and_types() -> None:
    notes: list[str] = []
    text = (
        "Id,ChannelType,Address,Attributes.I,Attributes.I,User.UserAttributes.tier,Metrics.m,Location.Latitude,"
        "Demographic.Platform,OptOut\n"
        'e1,EMAIL,a@x,"x, y",z,gold,2.5,10.5,ios,ALL\n'
    )
    (row,) = list(parse_csv(text, notes))
    item = row.item
    assert item is not None and notes == []
    assert item.Attributes == {"I": ["x, y", "z"]} and item.Metrics == {"m": 2.5}
    assert item.User is not None and item.User.UserAttributes == {"tier": ["gold"]}
    assert item.Location is not None and item.Location.Latitude == 10.5
    assert item.Demographic is not None and item.Demographic.Platform == "ios" and item.OptOut == "ALL"


def test_csv_errors_per_row_and_header() -> None:
    notes: list[str] = []
    rows = list(parse_csv("ChannelType,Address,Metrics.m\nEMAIL,a@x,nan-ish\nEMAIL,b@x,1,extra\n,,\nSMS,+1,3\n", notes))
    assert [r.line for r in rows] == [2, 3, 5]
    assert "not a number" in (rows[0].error or "") and "fields" in (rows[1].error or "")
    assert rows[2].item is not None and rows[2].item.Id == stable_id("SMS", "+1")
    (bad,) = list(parse_csv("Bogus.Path,Address\nx,y\n", notes))
    assert bad.line == 1 and "unknown column 'Bogus.Path'" in (bad.error or "")


def test_user_id_only_files() -> None:
    rows = list(parse_csv("User.UserId\nu1 u2\nu3\n", []))
    assert [r.user_ids for r in rows] == [["u1", "u2"], ["u3"]]
    (j,) = list(parse_json_lines('{"User": {"UserId": "u9"}}\n', []))
    assert j.user_ids == ["u9"]


def test_json_lines() -> None:
    notes: list[str] = []
    text = '{"Id": "a", "EffectiveDate": "2024-01-01", "CohortId": "3"}\n\n[1]\n{"Address": "x"}\n{"Id": 5}\n'
    rows = list(parse_json_lines(text, notes))
    assert rows[0].item is not None and rows[0].item.Id == "a" and rows[0].item.EffectiveDate is None
    assert notes == ["field EffectiveDate is not importable and was ignored"]
    assert [r.line for r in rows] == [1, 3, 4, 5]
    assert "JSON object" in (rows[1].error or "") and "Address and ChannelType" in (rows[2].error or "")
    assert rows[3].error is not None
