"""The results side: statistics, leaderboards, plots and the regression gate."""
