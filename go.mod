module github.com/ser-rl/ser

go 1.26.8
