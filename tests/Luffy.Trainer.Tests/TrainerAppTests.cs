using System.Diagnostics;
using System.Text.Json.Nodes;

namespace Luffy.Trainer.Tests;

/// <summary>The trainer as a user runs it: a separate process, its exit code and what it prints.</summary>
[Collection("torch")]
public sealed class TrainerAppTests : IDisposable
{
    /// <summary>A model that pre-trains and trains in seconds.</summary>
    private static readonly (string Option, string Value)[] Tiny = [("--d-model", "16"), ("--layers", "1"), ("--heads", "2"), ("--pretrain-steps", "2"), ("--eval-per-level", "2"), ("--pass-k", "2"), ("--max-response-length", "24")];

    /// <summary>The tiny model's options, some replaced or added, then any flags.</summary>
    private static string[] TinyWith(params string[] options)
    {
        var values = Tiny.ToDictionary(p => p.Option, p => p.Value);
        var flags = new List<string>();
        for (int i = 0; i < options.Length; i++)
        {
            if (i + 1 < options.Length && !options[i + 1].StartsWith("--", StringComparison.Ordinal))
            {
                values[options[i]] = options[++i];
            }
            else
            {
                flags.Add(options[i]);
            }
        }
        return [.. values.SelectMany(p => new[] { p.Key, p.Value }), .. flags];
    }

    private readonly string folder = Path.Combine(Path.GetTempPath(), "luffy-app-" + Guid.NewGuid().ToString("N"));

    public TrainerAppTests() => Directory.CreateDirectory(folder);

    public void Dispose()
    {
        try
        {
            Directory.Delete(folder, recursive: true);
        }
        catch (IOException)
        {
        }
    }

    private sealed record Result(int ExitCode, string Output, string Error)
    {
        public string All => Output + Error;
    }

    /// <summary>A started trainer whose output is collected as it comes (a full pipe would stall it).</summary>
    private sealed class Trainer : IDisposable
    {
        private readonly System.Text.StringBuilder output = new(), error = new();

        public Trainer(string[] args)
        {
            var start = new ProcessStartInfo(Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") ?? "dotnet")
            {
                RedirectStandardOutput = true,
                RedirectStandardError = true,
                WorkingDirectory = Path.GetTempPath(),
            };
            start.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "Luffy.Trainer.dll"));
            foreach (string arg in args)
            {
                start.ArgumentList.Add(arg);
            }
            Process = new Process { StartInfo = start };
            Process.OutputDataReceived += (_, e) => Append(output, e.Data);
            Process.ErrorDataReceived += (_, e) => Append(error, e.Data);
            Process.Start();
            Process.BeginOutputReadLine();
            Process.BeginErrorReadLine();
        }

        public Process Process { get; }

        public string Output
        {
            get
            {
                lock (output)
                {
                    return output.ToString() + error.ToString();
                }
            }
        }

        private void Append(System.Text.StringBuilder to, string? line)
        {
            if (line is not null)
            {
                lock (output)
                {
                    to.AppendLine(line);
                }
            }
        }

        /// <summary>Sends SIGINT, as Ctrl+C in a terminal does.</summary>
        public void Interrupt() => Process.Start("kill", ["-INT", Process.Id.ToString(System.Globalization.CultureInfo.InvariantCulture)])!.WaitForExit();

        public void WaitFor(Func<bool> condition, string what)
        {
            var clock = Stopwatch.StartNew();
            while (!condition())
            {
                Assert.False(Process.HasExited, $"the trainer exited (code {(Process.HasExited ? Process.ExitCode : 0)}) before {what}: {Output}");
                Assert.True(clock.Elapsed < TimeSpan.FromMinutes(3), $"timed out waiting for {what}: {Output}");
                Thread.Sleep(100);
            }
        }

        public Result Finish(TimeSpan timeout)
        {
            if (!Process.WaitForExit(timeout))
            {
                Process.Kill(entireProcessTree: true);
                Assert.Fail($"the trainer did not exit within {timeout}: {Output}");
            }
            Process.WaitForExit(); // drains the output events
            lock (output)
            {
                return new Result(Process.ExitCode, output.ToString(), error.ToString());
            }
        }

        public void Dispose()
        {
            if (!Process.HasExited)
            {
                Process.Kill(entireProcessTree: true);
                Process.WaitForExit();
            }
            Process.Dispose();
        }
    }

    private static Result Run(params string[] args)
    {
        using var trainer = new Trainer(args);
        return trainer.Finish(TimeSpan.FromMinutes(3));
    }

    private static void AssertCleanError(Result result, string expected)
    {
        Assert.Equal(2, result.ExitCode);
        Assert.Contains("error: " + expected, result.Error);
        Assert.DoesNotContain("Unhandled exception", result.All);
        Assert.DoesNotContain("   at ", result.All); // no stack trace
    }

    private string Config(string json)
    {
        string path = Path.Combine(folder, Guid.NewGuid().ToString("N") + ".json");
        File.WriteAllText(path, json);
        return path;
    }

    [Theory]
    [InlineData("[1,2,3]", "is not valid; expected a JSON object of options such as { \"steps\": 100 }, not a JSON array.")]
    [InlineData("42", "not a JSON number")]
    [InlineData("{ \"stepz\": 5 }", ": \"stepz\" is not an option; did you mean \"steps\"?")]
    [InlineData("{ \"steps\": \"ten\" }", ": \"steps\": \"ten\" is not valid; expected a whole number.")]
    [InlineData("{ \"steps\": ", "expected a readable JSON object of options")]
    public void A_bad_config_file_is_a_clear_error_naming_the_file(string json, string expected)
    {
        string path = Config(json);
        Result result = Run("--config", path);
        AssertCleanError(result, "");
        Assert.Contains(path, result.Error);
        Assert.Contains(expected, result.Error);
    }

    [Theory]
    [InlineData(new[] { "--foo", "1" }, "--foo is not an option (--help lists every option)")]
    [InlineData(new[] { "--stepz", "5" }, "--stepz is not an option; did you mean --steps?")]
    [InlineData(new[] { "steps", "5" }, "'steps' is not an option: options are written --name value; did you mean --steps?")]
    [InlineData(new[] { "--steps", "ten" }, "--steps 'ten' is not valid; expected a whole number.")]
    [InlineData(new[] { "--mode", "lufy" }, "--mode 'lufy' is not valid; expected luffy, luffy-no-shaping, rl-sft, grpo, exgrpo, sft, sft-grpo, compare, sweep. Did you mean luffy?")]
    [InlineData(new[] { "--samples-per-prompt", "1" }, "--samples-per-prompt '1' is not valid; expected an integer >= 2")]
    [InlineData(new[] { "--output", "/proc/luffy-trainer-test" }, "--output '/proc/luffy-trainer-test' is not valid; expected a folder this user can write")]
    [InlineData(new[] { "--cache", "/proc/luffy-trainer-test" }, "--cache '/proc/luffy-trainer-test' is not valid; expected a folder this user can write")]
    public void A_bad_option_is_a_one_line_error_naming_the_option_and_what_is_allowed(string[] args, string expected)
    {
        Result result = Run(args);
        AssertCleanError(result, expected);
    }

    [Fact]
    public void A_compare_against_a_sweep_of_another_recipe_is_refused_before_the_base_model_is_pre_trained()
    {
        // the tiny model's settings are not the committed sweep's: the base model would be pre-trained for them first
        Result result = Run(TinyWith("--mode", "compare", "--output", folder));
        AssertCleanError(result, "--sweep ");
        Assert.Contains("chose its settings under another recipe: --max-response-length 48 (here: 24)", result.Error);
        Assert.DoesNotContain("base model", result.Output);
    }

    [Fact]
    public void An_output_that_is_a_file_is_refused_before_any_work()
    {
        string file = Path.Combine(folder, "a-file");
        File.WriteAllText(file, "x");
        AssertCleanError(Run("--output", file), $"--output '{file}' is not valid; expected a folder, but a file of that name exists.");
        Assert.Equal("x", File.ReadAllText(file));
    }

    [Fact]
    public void Resume_with_nothing_to_resume_says_so()
    {
        Result result = Run(TinyWith("--output", folder, "--resume"));
        AssertCleanError(result, "checkpoint file ");
        Assert.Contains("there is no checkpoint to resume; start without --resume", result.Error);
    }

    [Fact]
    public void Ctrl_c_during_pretraining_stops_it_and_caches_nothing()
    {
        using var trainer = new Trainer(TinyWith("--output", folder, "--pretrain-steps", "1000000"));
        trainer.WaitFor(() => trainer.Output.Contains("pre-training 1000000 steps", StringComparison.Ordinal), "pre-training");
        Thread.Sleep(1000);
        trainer.Interrupt();
        Result result = trainer.Finish(TimeSpan.FromSeconds(30));
        Assert.Equal(130, result.ExitCode);
        Assert.Contains("interrupted before the first step: nothing was written", result.All);
        Assert.Empty(Directory.GetFiles(Path.Combine(folder, "cache"), "*.bin"));
    }

    [Fact]
    public void Ctrl_c_during_training_saves_a_checkpoint_and_resume_finishes_the_run()
    {
        string[] run = ["--output", folder, "--prompts-per-step", "4", "--eval-every", "100000", "--tensorboard", "false"];
        string metrics = Path.Combine(folder, "luffy-seed1", "metrics.jsonl");
        int stopped;
        using (var trainer = new Trainer(TinyWith([.. run, "--steps", "100000"])))
        {
            trainer.WaitFor(() => File.Exists(metrics) && File.ReadLines(metrics).Count() >= 3, "two steps");
            trainer.Interrupt();
            Result result = trainer.Finish(TimeSpan.FromMinutes(1));
            Assert.Equal(130, result.ExitCode);
            System.Text.RegularExpressions.Match match = System.Text.RegularExpressions.Regex.Match(result.All, "interrupted at step (\\d+); checkpoint saved, continue with --resume");
            Assert.True(match.Success, result.All);
            stopped = int.Parse(match.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture);
        }
        Result resumed = Run(TinyWith([.. run, "--steps", (stopped + 2).ToString(System.Globalization.CultureInfo.InvariantCulture), "--resume"]));
        Assert.Equal(0, resumed.ExitCode);
        Assert.Contains($"resumed from", resumed.All);
        int[] steps = [.. File.ReadAllLines(metrics).Select(l => (int)JsonNode.Parse(l)!["step"]!)];
        Assert.Equal(Enumerable.Range(0, stopped + 3), steps);
    }

    [Fact]
    public void A_second_ctrl_c_aborts_at_once_without_finishing_the_step()
    {
        // a step of 1,000 prompt groups of a wider model takes far longer than the 0.3 s between the two interrupts
        using var trainer = new Trainer(TinyWith("--d-model", "256", "--layers", "4", "--heads", "4", "--output", folder, "--prompts-per-step", "1000", "--steps", "5"));
        string metrics = Path.Combine(folder, "luffy-seed1", "metrics.jsonl");
        trainer.WaitFor(() => File.Exists(metrics), "the first step");
        Thread.Sleep(2000); // well into the first step's rollouts
        trainer.Interrupt();
        Thread.Sleep(300);
        trainer.Interrupt();
        Result result = trainer.Finish(TimeSpan.FromSeconds(20));
        Assert.Equal(130, result.ExitCode); // killed by SIGINT: 128 + 2
        Assert.DoesNotContain("interrupted at step", result.All);
        Assert.False(File.Exists(Path.Combine(folder, "luffy-seed1", "checkpoint.json")));
    }

    [Fact]
    public void A_second_trainer_on_the_same_output_stops_at_once_with_a_clear_error()
    {
        using var first = new Trainer(TinyWith("--output", folder, "--pretrain-steps", "1000000"));
        first.WaitFor(() => first.Output.Contains("pre-training 1000000 steps", StringComparison.Ordinal), "the first trainer's pre-training");
        Result second = Run(TinyWith("--output", folder, "--pretrain-steps", "1000000"));
        AssertCleanError(second, $"another trainer is writing to {folder} (it holds {Path.Combine(folder, "trainer.lock")})");
    }
}
