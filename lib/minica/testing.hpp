// minica::testing — the test-fixture API (being written; see issue 5).
#pragma once
