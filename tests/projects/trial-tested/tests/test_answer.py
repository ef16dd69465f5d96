import os
import unittest

import trial_tested


# unittest's own assertions: the suite runs with only the wheel installed (no pytest).
class TestInstalled(unittest.TestCase):
    def test_imported_from_the_environment(self) -> None:
        self.assertIn("site-packages", trial_tested.__file__)  # noqa: PT009

    def test_answer(self) -> None:
        # TRIAL_EXPECTED lets the trial's own tests make this suite fail.
        expected = int(os.environ.get("TRIAL_EXPECTED", "42"))
        self.assertEqual(trial_tested.answer(), expected)  # noqa: PT009
