"""Import file parsing (sans-I/O): Pinpoint's CSV dotted paths, repeated columns, user-id files, NDJSON."""

from __future__ import annotations

from gateway.segments.importfile import parse_csv, parse_json_lines, redact, stable_id


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
    assert rows[0].error == "column 3: Metrics values must be numbers" and "fields" in (rows[1].error or "")
    assert rows[2].item is not None and rows[2].item.Id == stable_id("SMS", "+1")
    (bad,) = list(parse_csv("Bogus.Path,Address\nx,y\n", notes))
    assert bad.line == 1 and "header: column 1 is not an importable attribute path" in (bad.error or "")


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


SECRET = "hunter2-s3cr3t"


def test_errors_name_lines_and_columns_never_the_data() -> None:
    """A file that is not an endpoint list is reported without quoting it (its first line may be a secret)."""
    texts = [
        f"AWS_SECRET_ACCESS_KEY={SECRET}\0PATH=/usr/bin\0",
        f"root:x:0:0:{SECRET}:/root:/bin/bash\n",
        f"Id,Attributes.{SECRET},Metrics.m,Location.Latitude\ne1,x,{SECRET},1\ne2,y,1,{SECRET}\n",
        f'{{"{SECRET}": 1}}\n{{"ChannelType": "{SECRET}"}}\n{{"Id": "{SECRET}", "Attributes": {{"{SECRET}": 1}}}}\n',
        f'"{SECRET}\n',
    ]
    for text in texts:
        for parse in (parse_csv, parse_json_lines):
            errors = [r.error for r in parse(text, []) if r.error]
            assert errors and not any(SECRET in e or "root:x" in e for e in errors), (parse.__name__, errors)
    (header,) = list(parse_csv("Id,root:x:0:0,Address,nope\n", []))
    assert header.error is not None and header.error.startswith(
        "header: columns 2, 4 are not an importable attribute path (the paths are Id, Address,")
    (bad,) = list(parse_json_lines(f"{SECRET}\n", []))
    assert bad.error == "not valid JSON (JSON is malformed: invalid character (byte 0))"
    *_, huge = parse_csv("Id\n" + SECRET + "\n" + "x" * 200_000 + "\n", [])  # csv.Error ends the file
    assert huge.line == 3 and (huge.error or "").startswith("not valid CSV (field larger than field limit")


def test_redact_drops_quoted_values_and_attribute_names() -> None:
    assert redact(f"Invalid enum value '{SECRET}' - at `$.ChannelType`") == "Invalid enum value … - at `$.ChannelType`"
    assert redact(f"OptOut must be ALL or NONE, not \"it's {SECRET}\"") == "OptOut must be ALL or NONE, not …"
    assert redact(f"Attributes.{SECRET}: a: b[3]: value exceeds 100 characters") == (
        "Attributes.<name>[3]: value exceeds 100 characters")
    assert redact(f"User.UserAttributes.{SECRET}: 300 values exceed the limit of 50 per attribute") == (
        "User.UserAttributes.<name>: 300 values exceed the limit of 50 per attribute")
    assert redact(f"Metrics.{SECRET}: value must be a finite number") == "Metrics.<name>: value must be a finite number"
    assert redact("Location.Latitude must be between -90 and 90") == "Location.Latitude must be between -90 and 90"
