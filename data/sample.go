package data

import (
	"fmt"
	"math/rand/v2"
	"strings"
)

// Sample generates n preference pairs the project makes itself, for
// `ser demo` and tests: a question on one of twenty everyday topics, a
// chosen answer of specific, on-topic advice, and a rejected answer that
// fails in one of six ways: another topic's advice, a refusal, vague filler,
// a half answer padded with filler, a thin answer (one sentence of advice
// where the chosen has three), or a mixed one (half on-topic, half another
// topic's). The subset is the failure kind. noise is the share of pairs whose
// label is flipped, as a careless annotator would; the same seed gives the
// same pairs.
func Sample(n int, seed uint64, noise float64) []Pair {
	rng := rand.New(rand.NewPCG(seed, 0xdea))
	out := make([]Pair, n)
	for i := range out {
		t := sampleTopics[rng.IntN(len(sampleTopics))]
		q := t.questions[rng.IntN(len(t.questions))]
		good := advice(t, 2+rng.IntN(2), rng)
		kind := sampleFailures[rng.IntN(len(sampleFailures))]
		other := t
		for other.name == t.name {
			other = sampleTopics[rng.IntN(len(sampleTopics))]
		}
		var bad string
		switch kind {
		case "off-topic":
			bad = advice(other, 2+rng.IntN(2), rng)
		case "refusal":
			bad = pickOne(rng, "I'm sorry, but I can't help with that.", "I am not able to answer questions like this one.",
				"Unfortunately that is outside what I can assist with.", "Just search online, it's easy to find.")
		case "vague":
			bad = strings.Join(pickN(rng, sampleFiller, 2+rng.IntN(2)), " ")
		case "half":
			bad = advice(t, 1, rng) + " " + strings.Join(pickN(rng, sampleFiller, 2), " ")
		case "thin":
			good = advice(t, 3, rng)
			bad = advice(t, 1, rng)
		case "mixed":
			bad = advice(t, 1, rng) + " " + advice(other, 1, rng)
		}
		p := Pair{Prompt: q, Chosen: good, Rejected: bad, Labelled: true, Subset: kind, File: "sample", Line: i + 1}
		if rng.Float64() < noise {
			p.Chosen, p.Rejected = p.Rejected, p.Chosen
		}
		out[i] = p
	}
	return out
}

var sampleFailures = []string{"off-topic", "refusal", "vague", "half", "thin", "mixed"}

func advice(t sampleTopic, k int, rng *rand.Rand) string {
	return strings.Join(pickN(rng, t.advice, k), " ")
}

func pickOne(rng *rand.Rand, s ...string) string { return s[rng.IntN(len(s))] }

func pickN(rng *rand.Rand, from []string, k int) []string {
	idx := rng.Perm(len(from))[:min(k, len(from))]
	out := make([]string, len(idx))
	for i, j := range idx {
		out[i] = from[j]
	}
	return out
}

type sampleTopic struct {
	name      string
	questions []string
	advice    []string
}

var sampleFiller = []string{
	"There are many different ways to think about this.",
	"It really depends on your situation and preferences.",
	"Everyone has their own approach to this kind of thing.",
	"You might want to consider a few options before deciding.",
	"This is a common question and the answer varies.",
	"Some people find it easy while others find it hard.",
	"In general it is good to keep things in mind.",
}

var sampleTopics = []sampleTopic{
	{"bread", []string{"How do I bake bread at home?", "What is the secret to a good homemade loaf?", "Can you explain how to make bread from scratch?"}, []string{
		"Mix flour, water, salt and yeast, then knead the dough for about ten minutes until it is smooth and elastic.",
		"Let the dough rise in a warm place until it doubles in size, which usually takes one to two hours.",
		"Bake at around 220 degrees Celsius for 30 to 40 minutes, until the crust is brown and the loaf sounds hollow when tapped.",
		"Shape the loaf gently after the first rise so you keep some of the air bubbles.",
		"Use a kitchen scale: weighing flour and water gives far more consistent results than cups."}},
	{"sleep", []string{"How can I sleep better?", "What helps with falling asleep faster?", "Any tips to improve my sleep?"}, []string{
		"Go to bed and wake up at the same time every day, even on weekends.",
		"Avoid caffeine after early afternoon because it can stay in your body for hours.",
		"Keep your bedroom dark, quiet and slightly cool, around 18 degrees Celsius.",
		"Put screens away an hour before bed, since bright light delays the release of melatonin.",
		"If you cannot fall asleep after twenty minutes, get up and do something calm until you feel sleepy."}},
	{"budget", []string{"How do I start a personal budget?", "What is a good way to manage my money each month?", "How can I save more money?"}, []string{
		"List your monthly income and every fixed expense such as rent, utilities and loan payments.",
		"Track what you spend for a month so you can see where the money actually goes.",
		"Set up an automatic transfer to savings on payday so saving happens before spending.",
		"A common rule of thumb is 50 percent for needs, 30 percent for wants and 20 percent for savings.",
		"Build an emergency fund that covers three to six months of essential expenses."}},
	{"python", []string{"How do I read a file in Python?", "What's the right way to open and read a text file in Python?", "Show me how to read lines from a file with Python."}, []string{
		"Use a with statement: with open('data.txt') as f: text = f.read(), which closes the file for you.",
		"To go line by line, iterate over the file object: for line in f: print(line.strip()).",
		"Pass encoding='utf-8' to open so the result does not depend on the system's default encoding.",
		"For large files, reading line by line keeps memory use low instead of loading everything at once."}},
	{"running", []string{"How should a beginner start running?", "I want to get into running, where do I begin?", "What's a good plan for a new runner?"}, []string{
		"Start with run-walk intervals, for example one minute of running and two minutes of walking, for 20 minutes.",
		"Run three times a week and rest or cross-train on the other days so your body can adapt.",
		"Increase your weekly distance by no more than about ten percent to avoid injuries.",
		"Get fitted for running shoes at a specialty store; the right shoe makes a real difference.",
		"Keep the pace easy enough that you could hold a conversation while running."}},
	{"plants", []string{"How often should I water my houseplants?", "How do I keep my indoor plants alive?", "What do houseplants need to stay healthy?"}, []string{
		"Water when the top two or three centimetres of soil feel dry, rather than on a fixed schedule.",
		"Make sure pots have drainage holes so roots do not sit in water and rot.",
		"Most houseplants like bright, indirect light near a window but out of harsh afternoon sun.",
		"Feed them with a diluted fertiliser every few weeks during spring and summer.",
		"Yellow, soft leaves often mean overwatering, while crispy brown edges usually mean too little water."}},
	{"interview", []string{"How do I prepare for a job interview?", "Any advice for my first job interview?", "What should I do before an interview?"}, []string{
		"Research the company's products, recent news and values so you can explain why you want to work there.",
		"Prepare short stories about past work using the situation, task, action and result structure.",
		"Practise answering common questions out loud, ideally with a friend playing the interviewer.",
		"Prepare two or three thoughtful questions to ask the interviewer about the team and the role.",
		"Plan your route and arrive ten minutes early, or test your camera and microphone for a video call."}},
	{"coffee", []string{"How do I make good coffee at home?", "What's the best way to brew coffee?", "How can I improve my home coffee?"}, []string{
		"Buy whole beans and grind them just before brewing, since ground coffee loses flavour quickly.",
		"Use about 60 grams of coffee per litre of water as a starting ratio and adjust to taste.",
		"Water just off the boil, around 93 degrees Celsius, extracts flavour without scorching the grounds.",
		"Clean your grinder and brewer regularly because old oils make coffee taste bitter."}},
	{"car", []string{"How do I jump start a car?", "My car battery is dead, what do I do?", "What are the steps to jump a car battery?"}, []string{
		"Park the working car close, turn both engines off, and connect the red clamp to the dead battery's positive terminal.",
		"Connect the other red clamp to the good battery's positive terminal, then the black clamp to its negative terminal.",
		"Attach the last black clamp to an unpainted metal part of the dead car's engine block, away from the battery.",
		"Start the working car, wait a few minutes, then try starting the dead car and remove clamps in reverse order."}},
	{"stress", []string{"How can I deal with stress at work?", "What helps reduce everyday stress?", "I feel stressed all the time, what can I do?"}, []string{
		"Take short breaks during the day to walk or stretch, which lowers tension and clears your head.",
		"Try slow breathing: breathe in for four seconds and out for six seconds, for a few minutes.",
		"Write down your tasks and pick the three most important ones so the workload feels manageable.",
		"Regular exercise, even a brisk 20-minute walk, reduces stress hormones over time.",
		"Talk to someone you trust, and consider a counsellor if stress affects your sleep or health."}},
	{"spanish", []string{"How can I learn Spanish quickly?", "What's the best way to learn a new language like Spanish?", "Tips for learning Spanish as an adult?"}, []string{
		"Practise every day for 20 to 30 minutes; short daily sessions beat long weekly ones.",
		"Learn the most common thousand words first, since they cover most everyday conversation.",
		"Speak from the start with a tutor or language exchange partner, even if you make mistakes.",
		"Watch shows in Spanish with Spanish subtitles to train your ear and reading together.",
		"Use spaced repetition flashcards to remember vocabulary for the long term."}},
	{"eggs", []string{"How do I boil an egg?", "How long should I boil eggs for?", "What's the trick to perfect boiled eggs?"}, []string{
		"Lower the eggs into boiling water and cook six to seven minutes for jammy yolks or ten to twelve for hard yolks.",
		"Move the eggs to a bowl of ice water right away to stop the cooking and make peeling easier.",
		"Eggs that are a week or two old peel more easily than very fresh ones.",
		"Crack the shell all over and peel under running water starting from the wide end."}},
	{"password", []string{"How do I make a strong password?", "What makes a password secure?", "How should I manage my passwords?"}, []string{
		"Use a long passphrase of four or more random words; length matters more than odd symbols.",
		"Never reuse a password across sites, because one leak would expose all your accounts.",
		"A password manager can generate and remember unique passwords for every site.",
		"Turn on two-factor authentication for email and banking accounts."}},
	{"cold", []string{"What should I do when I have a cold?", "How can I feel better with a cold?", "Any remedies for a common cold?"}, []string{
		"Rest and drink plenty of fluids such as water, tea and broth.",
		"Honey in warm water or tea can soothe a sore throat and ease coughing in adults and older children.",
		"Saline nasal spray or steam can help clear a blocked nose.",
		"See a doctor if you have a high fever, trouble breathing, or symptoms lasting more than ten days."}},
	{"moving", []string{"How do I plan a move to a new apartment?", "Any tips for moving house?", "How can I make moving less stressful?"}, []string{
		"Start packing rooms you use least a few weeks ahead and label each box with its room and contents.",
		"Book movers or a rental van at least a month in advance, especially at the end of the month.",
		"Pack an essentials box with chargers, toiletries, medicine and a change of clothes for the first night.",
		"Update your address with your bank, employer and post office before you move."}},
	{"photo", []string{"How can I take better photos with my phone?", "Tips for phone photography?", "How do I make my smartphone pictures look better?"}, []string{
		"Clean the lens first; a smudged lens is the most common cause of hazy photos.",
		"Use natural light from a window and avoid the harsh built-in flash.",
		"Turn on the grid and place your subject along the thirds lines instead of dead centre.",
		"Tap on your subject to set focus and exposure, then slide to adjust brightness."}},
	{"dog", []string{"How do I train my puppy to sit?", "What's the best way to teach a dog basic commands?", "How can I train my new dog?"}, []string{
		"Hold a treat above the puppy's nose and move it back; as its bottom lowers, say sit and reward right away.",
		"Keep training sessions short, about five minutes, several times a day.",
		"Reward the behaviour you want immediately so the dog links the action to the treat.",
		"Be consistent: everyone in the family should use the same words for each command."}},
	{"presentation", []string{"How do I give a good presentation?", "Tips for public speaking?", "How can I be less nervous when presenting?"}, []string{
		"Structure the talk around three key points and say them at the start and again at the end.",
		"Rehearse out loud several times, timing yourself, so the words come naturally.",
		"Use slides with few words and large visuals; your audience should listen to you, not read.",
		"Slow down and pause after important points; nerves make most people speak too fast."}},
	{"bike", []string{"How do I fix a flat bicycle tire?", "My bike has a puncture, how do I repair it?", "Steps to patch a bike tube?"}, []string{
		"Remove the wheel, let out any remaining air and lever one side of the tyre off the rim.",
		"Pull out the tube, pump a little air in and find the hole by listening or dipping it in water.",
		"Roughen the area, apply glue, wait until it is tacky, then press the patch on firmly.",
		"Check the inside of the tyre for the thorn or glass that caused the flat before refitting."}},
	{"tea", []string{"How do I brew green tea properly?", "Why does my green tea taste bitter?", "What's the right way to make green tea?"}, []string{
		"Use water around 75 to 80 degrees Celsius; boiling water makes green tea bitter.",
		"Steep for two to three minutes, then remove the leaves.",
		"Use about one teaspoon of leaves per cup and adjust to taste.",
		"Good leaves can be steeped two or three times, each time a little longer."}},
}

// SampleDescription says what Sample makes, for the demo's notes.
func SampleDescription(n int) string {
	return fmt.Sprintf("%d generated pairs: a question on one of %d everyday topics, a specific on-topic answer (chosen), and one of %d kinds of failure (rejected: %s)",
		n, len(sampleTopics), len(sampleFailures), strings.Join(sampleFailures, ", "))
}
