import numpy as np
import pytest

from tracker.checks import is_int, is_number


@pytest.mark.parametrize("value, integer, number", [
    (3, True, True),
    (np.int64(3), True, False),      # numpy numbers become Python floats before is_number is asked
    (np.uint8(0), True, False),
    (2.0, False, True),
    (np.float32(2.0), False, False),
    (True, False, False),            # Python counts bools as integers; the options do not
    (np.bool_(True), False, False),
    ("3", False, False),
    (None, False, False),
])
def test_integer_and_number_predicates(value, integer, number):
    assert is_int(value) is integer and is_number(value) is number
