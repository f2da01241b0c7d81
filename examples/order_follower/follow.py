"""`python examples/order_follower/follow.py [--help]`: follow every order on the local stack."""

import sys

from order_follower import main

if __name__ == "__main__":
    sys.exit(main())
