module github.com/ser-rl/ser/tokenize/reference/scripts

go 1.26

require golang.org/x/text v0.3.7
