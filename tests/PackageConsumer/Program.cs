using Luffy.Objectives.Advantages;
using Luffy.Objectives.Losses;
using Luffy.Objectives.Shaping;

// Compiles against the packed package only; proves the public surface is reachable from the .nupkg.
var options = PolicyLossOptions.LuffyMainRun with { Shaping = new RegularizedShaping(0.1) };
var loss = new MixedPolicyLoss(options);
IAdvantageEstimator estimator = new GroupNormalizedAdvantage(normalizeByStd: false);
Console.WriteLine($"{loss.Options.Aggregation} {estimator.Name}");
