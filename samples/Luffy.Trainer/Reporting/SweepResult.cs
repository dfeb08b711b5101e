using System.Globalization;
using System.Reflection;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace Luffy.Trainer.Reporting;

/// <summary>
/// What <c>--mode sweep</c> measured and chose: every (method, learning rate, seed) run's validation accuracy at its last
/// step, and per method the learning rate with the highest mean validation accuracy. <c>--mode compare</c> reads it
/// (<see cref="TrainerOptions.Sweep"/>) and runs each method at its chosen rate. The test splits are recorded for the
/// reader but never read by the selection.
/// </summary>
public sealed record SweepResult
{
    /// <summary>How the setting is chosen (written to the file so the reader need not look it up).</summary>
    public const string SelectionRule =
        "per method, the setting (learning rate, and the shaping's gamma for the methods that have one) with the highest mean validation accuracy (problems of the training levels, disjoint from every test set) at the last step over the sweep's seeds; a tie goes to the smaller learning rate, then the larger gamma";

    /// <summary>One run of the sweep; <paramref name="Gamma"/> is null for methods without policy shaping.</summary>
    public sealed record Run(string Method, double LearningRate, double? Gamma, int Seed, double Validation, Dictionary<int, double> ValidationByLevel, double InDistribution, double Minutes);

    /// <summary>The chosen setting of one method and the validation accuracy that chose it; <paramref name="Gamma"/> is null for methods without policy shaping.</summary>
    public sealed record Choice(double LearningRate, double? Gamma, double Validation, string Why);

    /// <summary>The rule of <see cref="SelectionRule"/>.</summary>
    public string Rule { get; init; } = SelectionRule;

    /// <summary>The trainer's settings of the sweep (steps, recipe, grid).</summary>
    public TrainerOptions? Settings { get; init; }

    /// <summary>Every run.</summary>
    public List<Run> Runs { get; init; } = [];

    /// <summary>The chosen learning rate per method.</summary>
    public Dictionary<string, Choice> Chosen { get; init; } = [];

    /// <summary>Chooses each method's rate from <paramref name="runs"/> by <see cref="SelectionRule"/>.</summary>
    public static Dictionary<string, Choice> Choose(IReadOnlyList<Run> runs)
    {
        var chosen = new Dictionary<string, Choice>();
        foreach (IGrouping<string, Run> method in runs.GroupBy(r => r.Method))
        {
            var settings = method.GroupBy(r => (r.LearningRate, r.Gamma)).Select(g => (g.Key.LearningRate, g.Key.Gamma, Validation: g.Average(r => r.Validation)))
                .OrderBy(x => x.LearningRate).ThenByDescending(x => x.Gamma ?? 0).ToArray();
            var best = settings.Aggregate((best, x) => x.Validation > best.Validation ? x : best);
            string others = string.Join(", ", settings.Select(x => string.Create(CultureInfo.InvariantCulture, $"lr {x.LearningRate:G3}{(x.Gamma is null ? "" : $" gamma {x.Gamma:G3}")}: {100 * x.Validation:F1}%")));
            chosen[method.Key] = new Choice(best.LearningRate, best.Gamma, best.Validation, $"highest mean validation accuracy ({others})");
        }
        return chosen;
    }

    /// <summary>Reads a sweep file.</summary>
    /// <exception cref="OptionException">The file is missing or is not a sweep result.</exception>
    public static SweepResult Load(string path)
    {
        if (!File.Exists(path))
        {
            throw new OptionException("sweep", path, "an existing sweep.json written by --mode sweep, or none (every method at --learning-rate)");
        }
        try
        {
            return JsonSerializer.Deserialize<SweepResult>(File.ReadAllText(path), JsonOptions) ?? throw new JsonException("empty");
        }
        catch (JsonException ex)
        {
            throw new OptionException("sweep", path, $"a sweep.json written by --mode sweep ({ex.Message})");
        }
    }

    /// <summary>The setting chosen for <paramref name="method"/>.</summary>
    /// <exception cref="OptionException">The sweep has no choice for the method.</exception>
    public Choice For(string method, string path) =>
        Chosen.TryGetValue(method, out Choice? choice)
            ? choice
            : throw new OptionException("sweep", path, $"a sweep that chose a learning rate for {method} (it has {string.Join(", ", Chosen.Keys)}); run --mode sweep --methods {method}, or pass --sweep none");

    /// <summary><paramref name="options"/> with the setting chosen for <paramref name="method"/>.</summary>
    public TrainerOptions Apply(TrainerOptions options, string method, string path)
    {
        Choice choice = For(method, path);
        return options with { LearningRate = choice.LearningRate, Gamma = choice.Gamma ?? options.Gamma };
    }

    /// <summary>
    /// The options that do not change what a run trains, or that the sweep itself chooses: where runs write, how often
    /// they evaluate or save, which methods and seeds run, the sweep's grid, the learning rate and γ, the device, and the
    /// size of the evaluation sets. Every other option is part of the recipe the sweep's choice holds for.
    /// </summary>
    private static readonly HashSet<string> NotRecipe =
    [
        nameof(TrainerOptions.Mode), nameof(TrainerOptions.Methods), nameof(TrainerOptions.Seed), nameof(TrainerOptions.Seeds),
        nameof(TrainerOptions.SweepLearningRates), nameof(TrainerOptions.SweepGammas), nameof(TrainerOptions.Sweep),
        nameof(TrainerOptions.LearningRate), nameof(TrainerOptions.Gamma), nameof(TrainerOptions.Device),
        nameof(TrainerOptions.EvalEvery), nameof(TrainerOptions.EvalPerLevel), nameof(TrainerOptions.PassK),
        nameof(TrainerOptions.CheckpointEvery), nameof(TrainerOptions.Output), nameof(TrainerOptions.Cache),
        nameof(TrainerOptions.Tensorboard), nameof(TrainerOptions.Resume), nameof(TrainerOptions.Config),
    ];

    /// <summary>
    /// The recipe options (every option but those that only say where, how often, what to run, or what the sweep
    /// chooses) in which <paramref name="options"/> differ from the sweep's <see cref="Settings"/>, each as
    /// "--name sweep-value (here: value)". Empty when they agree, or when the file records no settings.
    /// </summary>
    public IReadOnlyList<string> RecipeDifferences(TrainerOptions options)
    {
        if (Settings is null)
        {
            return [];
        }
        return
        [
            .. typeof(TrainerOptions).GetProperties(BindingFlags.Public | BindingFlags.Instance)
                .Where(p => p.SetMethod is not null && !NotRecipe.Contains(p.Name) && !Equals(p.GetValue(Settings), p.GetValue(options)))
                .Select(p => $"--{OptionParser.Kebab(p.Name)} {Show(p.GetValue(Settings))} (here: {Show(p.GetValue(options))})"),
        ];

        static string Show(object? value) => value switch
        {
            null => "unset",
            bool b => b ? "true" : "false",
            IFormattable f => f.ToString(null, CultureInfo.InvariantCulture),
            _ => value.ToString() ?? "",
        };
    }

    /// <summary>
    /// Refuses a sweep whose choices were made under another recipe than <paramref name="options"/>' (a learning rate
    /// chosen for one PPO epoch is not the one for two).
    /// </summary>
    /// <exception cref="OptionException">The recipes differ; the message names every differing option.</exception>
    public void EnsureSameRecipe(TrainerOptions options, string path)
    {
        IReadOnlyList<string> differences = RecipeDifferences(options);
        if (differences.Count > 0)
        {
            throw OptionException.WithMessage("sweep",
                $"--sweep {path} chose its settings under another recipe: {string.Join(", ", differences)}. Pass the sweep's values, run --mode sweep with these options and pass its sweep.json, or pass --sweep none (every method at --learning-rate).");
        }
    }

    /// <summary>Writes the sweep as indented JSON.</summary>
    public void Save(string path) => File.WriteAllText(path, JsonSerializer.Serialize(this, JsonOptions));

    private static readonly JsonSerializerOptions JsonOptions = new(TrainerOptions.JsonOptions) { DefaultIgnoreCondition = JsonIgnoreCondition.Never };
}
